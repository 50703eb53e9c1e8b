//! The photo store on an S3-protocol service (AWS S3 or a self-hosted one) via aws-sdk-s3.
//!
//! Located by `s3://<bucket>[/<prefix>]?endpoint=<url>&region=<name>&path_style=<bool>`; the
//! credentials come from the environment ([`S3Credentials::from_env`]), never from the URL, so
//! the URL can be logged as it is. Object keys are `<prefix>/` + [`PhotoKey::object_name`].
//!
//! Checksums: the SDK's default (`WhenSupported`) streams uploads with aws-chunked encoding and a
//! trailing checksum, which some S3-protocol servers store corrupted while answering 200. Both
//! checksum settings are `WhenRequired`, so a put is one plain, sized body; TLS protects it on the
//! wire and the conformance suite checks that what comes back is byte-identical.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use tracing::instrument;

use super::{PhotoKey, PhotoStore, PhotoStoreError, Result, Variant};

/// Where an S3 store lives, parsed from its `s3://` URL. Holds no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    /// Empty, or ends with `/`: prepended to every object name.
    pub prefix: String,
    /// `None` is AWS's own endpoint for the region.
    pub endpoint: Option<String>,
    pub region: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`; most self-hosted stores
    /// need it.
    pub path_style: bool,
}

const DEFAULT_REGION: &str = "us-east-1";

impl S3Location {
    /// Parses `s3://<bucket>[/<prefix>]?endpoint=…&region=…&path_style=…` (all parameters
    /// optional; region defaults to `us-east-1`, path_style to false).
    pub fn parse(url: &str) -> Result<Self> {
        let invalid = |reason| PhotoStoreError::UnsupportedLocation {
            location: shown_url(url),
            reason,
        };
        let parsed = url::Url::parse(url).map_err(|_| invalid("not a valid s3:// URL"))?;
        if parsed.scheme() != "s3" {
            return Err(invalid("expected an s3:// URL"));
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the URL: set SANSANG_S3_ACCESS_KEY_ID and \
                 SANSANG_S3_SECRET_ACCESS_KEY",
            ));
        }
        if parsed.port().is_some() || parsed.fragment().is_some() {
            return Err(invalid(
                "an s3:// URL is s3://<bucket>[/<prefix>]?endpoint=…: give the server's port \
                 in endpoint=",
            ));
        }
        let bucket = parsed.host_str().unwrap_or_default().to_owned();
        if !valid_bucket_name(&bucket) {
            return Err(invalid(
                "the bucket name must be 3 to 63 characters of a-z, 0-9, '.' and '-'",
            ));
        }
        // The raw path, not `parsed.path()`: the URL parser resolves `..` away silently.
        let raw_path = url
            .split(['?', '#'])
            .next()
            .and_then(|before_query| before_query.strip_prefix("s3://"))
            .and_then(|rest| rest.split_once('/'))
            .map_or("", |(_, path)| path);
        let segments: Vec<&str> = raw_path.split('/').filter(|s| !s.is_empty()).collect();
        if !segments.iter().all(|segment| valid_prefix_segment(segment)) {
            return Err(invalid(
                "the key prefix may hold only a-z, A-Z, 0-9, '.', '_' and '-' between slashes, \
                 and no '.' or '..' segment",
            ));
        }
        let prefix = if segments.is_empty() {
            String::new()
        } else {
            format!("{}/", segments.join("/"))
        };

        let mut location = S3Location {
            bucket,
            prefix,
            endpoint: None,
            region: DEFAULT_REGION.to_owned(),
            path_style: false,
        };
        for (name, value) in parsed.query_pairs() {
            match &*name {
                "endpoint" => {
                    if !(value.starts_with("http://") || value.starts_with("https://")) {
                        return Err(invalid("endpoint must be an http:// or https:// URL"));
                    }
                    if value.contains('@') {
                        return Err(invalid(
                            "credentials do not belong in the endpoint: set \
                             SANSANG_S3_ACCESS_KEY_ID and SANSANG_S3_SECRET_ACCESS_KEY",
                        ));
                    }
                    location.endpoint = Some(value.trim_end_matches('/').to_owned());
                }
                "region" if !value.is_empty() => location.region = value.into_owned(),
                "path_style" => {
                    location.path_style = match &*value {
                        "true" | "1" => true,
                        "false" | "0" => false,
                        _ => return Err(invalid("path_style must be true or false")),
                    }
                }
                _ => {
                    return Err(invalid(
                        "unknown or empty URL parameter (known: endpoint, region, path_style)",
                    ));
                }
            }
        }
        Ok(location)
    }

    /// `s3://bucket/prefix/ at endpoint`, for messages and logs.
    pub fn describe(&self) -> String {
        format!(
            "s3://{}/{} at {}",
            self.bucket,
            self.prefix,
            self.endpoint_display()
        )
    }

    fn endpoint_display(&self) -> String {
        match &self.endpoint {
            Some(endpoint) => endpoint.clone(),
            None => format!("AWS S3 ({})", self.region),
        }
    }
}

/// `url` for an error message: no password, and no query at all if one may hide in it.
fn shown_url(url: &str) -> String {
    let redacted = crate::config::redact_url(url);
    match redacted.split_once('?') {
        Some((base, query)) if query.contains('@') => format!("{base}?…"),
        _ => redacted,
    }
}

/// Bucket names as S3 allows them for new buckets (lowercase DNS labels).
fn valid_bucket_name(name: &str) -> bool {
    (3..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
        && !name.starts_with(['.', '-'])
        && !name.ends_with(['.', '-'])
}

fn valid_prefix_segment(segment: &str) -> bool {
    segment != "."
        && segment != ".."
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// An access key pair. `Debug` shows the key id only, never the secret.
#[derive(Clone)]
pub struct S3Credentials {
    access_key_id: String,
    secret_access_key: String,
}

impl S3Credentials {
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        S3Credentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
        }
    }

    /// `SANSANG_S3_ACCESS_KEY_ID` and `SANSANG_S3_SECRET_ACCESS_KEY`, or else `AWS_ACCESS_KEY_ID`
    /// and `AWS_SECRET_ACCESS_KEY`; a pair is taken whole, never half from each.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// [`S3Credentials::from_env`] over any variable lookup (for tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let pairs = [
            ("SANSANG_S3_ACCESS_KEY_ID", "SANSANG_S3_SECRET_ACCESS_KEY"),
            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        ];
        let present = |name: &str| lookup(name).filter(|v| !v.is_empty());
        for (id_var, secret_var) in pairs {
            if let Some(id) = present(id_var) {
                let secret = present(secret_var).ok_or(PhotoStoreError::MissingCredentials {
                    reason: "an access key id is set but its secret is not (set both \
                             SANSANG_S3_ACCESS_KEY_ID and SANSANG_S3_SECRET_ACCESS_KEY, or \
                             both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
                })?;
                return Ok(S3Credentials::new(id, secret));
            }
        }
        Err(PhotoStoreError::MissingCredentials {
            reason: "set SANSANG_S3_ACCESS_KEY_ID and SANSANG_S3_SECRET_ACCESS_KEY (or \
                     AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
        })
    }
}

impl fmt::Debug for S3Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"***")
            .finish()
    }
}

/// A [`PhotoStore`] over one bucket (and key prefix) of an S3-protocol service.
#[derive(Clone)]
pub struct S3Store {
    client: Client,
    location: S3Location,
    page_size: i32,
}

impl fmt::Debug for S3Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Store")
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl S3Store {
    /// A client for `location`; no request is sent yet.
    pub fn new(location: S3Location, credentials: S3Credentials) -> Self {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let mut config = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .http_client(http_client)
            .region(Region::new(location.region.clone()))
            .credentials_provider(Credentials::new(
                credentials.access_key_id,
                credentials.secret_access_key,
                None,
                None,
                "sansang-configuration",
            ))
            .force_path_style(location.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .build(),
            );
        if let Some(endpoint) = &location.endpoint {
            config = config.endpoint_url(endpoint);
        }
        S3Store {
            client: Client::from_conf(config.build()),
            location,
            page_size: 1000,
        }
    }

    /// Parses `url`, builds the client and checks that the bucket is there (see
    /// [`S3Store::check_bucket`]). This is what [`super::open`] does, with the credentials
    /// given rather than read from the environment.
    pub async fn connect(url: &str, credentials: S3Credentials) -> Result<Self> {
        let store = S3Store::new(S3Location::parse(url)?, credentials);
        store.check_bucket().await?;
        Ok(store)
    }

    /// Lists at most `page_size` keys per request (1 to 1000), so tests can page with a handful.
    pub fn with_page_size(mut self, page_size: i32) -> Self {
        self.page_size = page_size.clamp(1, 1000);
        self
    }

    pub fn location(&self) -> &S3Location {
        &self.location
    }

    /// The SDK client, for tests and tools that must see the bucket as S3 shows it.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Fails with [`PhotoStoreError::MissingBucket`] naming the bucket and endpoint when the
    /// bucket does not exist: production code never creates it.
    pub async fn check_bucket(&self) -> Result<()> {
        match self.head_bucket().await? {
            true => Ok(()),
            false => Err(self.missing_bucket()),
        }
    }

    /// Creates the bucket when it is missing (tests and first-time setup).
    pub async fn ensure_bucket(&self) -> Result<()> {
        if self.head_bucket().await? {
            return Ok(());
        }
        let mut request = self.client.create_bucket().bucket(&self.location.bucket);
        // us-east-1 is the one region that refuses an explicit location constraint.
        if self.location.region != DEFAULT_REGION {
            request = request.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(
                        self.location.region.as_str(),
                    ))
                    .build(),
            );
        }
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_bucket_already_owned_by_you()) =>
            {
                Ok(())
            }
            Err(e) => Err(self.backend_error("create", self.bucket_object(), e)),
        }
    }

    /// Whether the bucket exists; other failures (refused, forbidden) are errors.
    async fn head_bucket(&self) -> Result<bool> {
        match self
            .client
            .head_bucket()
            .bucket(&self.location.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.backend_error("check", self.bucket_object(), e)),
        }
    }

    fn missing_bucket(&self) -> PhotoStoreError {
        PhotoStoreError::MissingBucket {
            bucket: self.location.bucket.clone(),
            endpoint: self.location.endpoint_display(),
        }
    }

    fn bucket_object(&self) -> String {
        format!("bucket {}", self.location.bucket)
    }

    fn object_key(&self, key: &PhotoKey) -> String {
        format!("{}{}", self.location.prefix, key.object_name())
    }

    fn backend_error<E>(
        &self,
        action: &'static str,
        object: impl Into<String>,
        error: SdkError<E, HttpResponse>,
    ) -> PhotoStoreError
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        PhotoStoreError::Backend {
            action,
            object: object.into(),
            location: self.location.describe(),
            detail: DisplayErrorContext(&error).to_string(),
        }
    }
}

/// The HTTP status of a service's answer; `None` when no answer came (connection, timeout).
fn status_of<E>(error: &SdkError<E, HttpResponse>) -> Option<u16> {
    error
        .raw_response()
        .map(|response| response.status().as_u16())
}

fn content_type(variant: Variant) -> &'static str {
    match variant {
        Variant::Evidence | Variant::Thumb => "image/jpeg",
        Variant::Original => "application/octet-stream",
    }
}

#[async_trait]
impl PhotoStore for S3Store {
    fn kind(&self) -> &'static str {
        "s3"
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn put(&self, key: &PhotoKey, bytes: Vec<u8>) -> Result<()> {
        // A single PutObject replaces the object atomically: readers see the old or new bytes.
        self.client
            .put_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .content_type(content_type(key.variant))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| self.backend_error("write", key.object_name(), e))?;
        Ok(())
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn get(&self, key: &PhotoKey) -> Result<Option<Vec<u8>>> {
        let answer = self
            .client
            .get_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .send()
            .await;
        let output = match answer {
            Ok(output) => output,
            // A missing bucket is also a 404, but an error rather than "no such photo".
            Err(e)
                if e.as_service_error().is_some_and(|e| e.is_no_such_key())
                    || (status_of(&e) == Some(404) && e.code() != Some("NoSuchBucket")) =>
            {
                return Ok(None);
            }
            Err(e) => return Err(self.backend_error("read", key.object_name(), e)),
        };
        let bytes = output
            .body
            .collect()
            .await
            .map_err(|e| PhotoStoreError::Backend {
                action: "read the body of",
                object: key.object_name(),
                location: self.location.describe(),
                detail: DisplayErrorContext(&e).to_string(),
            })?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn exists(&self, key: &PhotoKey) -> Result<bool> {
        match self
            .client
            .head_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(self.backend_error("inspect", key.object_name(), e)),
        }
    }

    #[instrument(skip_all, fields(object = %key))]
    async fn delete(&self, key: &PhotoKey) -> Result<bool> {
        // S3's DeleteObject answers 204 whether or not the object was there, so look first. A
        // concurrent delete between the two may make both callers see `true`; harmless here.
        if !self.exists(key).await? {
            return Ok(false);
        }
        self.client
            .delete_object()
            .bucket(&self.location.bucket)
            .key(self.object_key(key))
            .send()
            .await
            .map_err(|e| self.backend_error("delete", key.object_name(), e))?;
        Ok(true)
    }

    #[instrument(skip_all)]
    async fn list(&self) -> Result<Vec<PhotoKey>> {
        let prefix = &self.location.prefix;
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut request = self
                .client
                .list_objects_v2()
                .bucket(&self.location.bucket)
                .max_keys(self.page_size)
                .set_continuation_token(token.take());
            if !prefix.is_empty() {
                request = request.prefix(prefix);
            }
            let page = request
                .send()
                .await
                .map_err(|e| self.backend_error("list", "objects", e))?;
            keys.extend(
                page.contents()
                    .iter()
                    .filter_map(|object| object.key()?.strip_prefix(prefix.as_str()))
                    .filter_map(PhotoKey::from_object_name),
            );
            if page.is_truncated() != Some(true) {
                break;
            }
            match page.next_continuation_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                // A truncated page without a token would make us list the first page forever.
                _ => {
                    return Err(PhotoStoreError::Backend {
                        action: "list",
                        object: "objects".to_owned(),
                        location: self.location.describe(),
                        detail: "a truncated listing came without a continuation token".to_owned(),
                    });
                }
            }
        }
        keys.sort();
        Ok(keys)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_bucket_prefix_and_parameters() {
        let location = S3Location::parse(
            "s3://photos.example/sansang/prod/?endpoint=http%3A%2F%2F127.0.0.1%3A9000\
             &region=eu-west-1&path_style=true",
        )
        .expect("a valid URL");
        assert_eq!(
            location,
            S3Location {
                bucket: "photos.example".to_owned(),
                prefix: "sansang/prod/".to_owned(),
                endpoint: Some("http://127.0.0.1:9000".to_owned()),
                region: "eu-west-1".to_owned(),
                path_style: true,
            }
        );

        let bare = S3Location::parse("s3://bucket").expect("a bare bucket");
        assert_eq!(bare.prefix, "");
        assert_eq!(bare.endpoint, None);
        assert_eq!(bare.region, "us-east-1");
        assert!(!bare.path_style);
    }

    #[test]
    fn refuses_bad_urls_without_echoing_secrets() {
        for url in [
            "s3://",
            "s3://Upper",
            "s3://ab",
            "s3://bucket/../x",
            "s3://bucket/a/./x",
            "s3://bucket/a%2Fb",
            "s3://bucket/a b",
            "s3://bucket?endpoint=ftp://host",
            "s3://bucket?path_style=yes",
            "s3://bucket?secret=x",
            "s3://bucket:9000/x",
            "s3://key:hunter2@bucket/x",
            "s3://bucket?endpoint=http://key:hunter2@127.0.0.1:9000",
        ] {
            let error = S3Location::parse(url).expect_err(url);
            assert_eq!(error.code(), "photo-store-location", "{url}");
            assert!(!error.to_string().contains("hunter2"), "{error}");
        }
    }

    #[test]
    fn credentials_come_in_pairs_and_never_print_the_secret() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                vars.iter()
                    .find(|(n, _)| *n == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        let ours = S3Credentials::from_lookup(env(&[
            ("SANSANG_S3_ACCESS_KEY_ID", "id1"),
            ("SANSANG_S3_SECRET_ACCESS_KEY", "hunter2"),
            ("AWS_ACCESS_KEY_ID", "id2"),
            ("AWS_SECRET_ACCESS_KEY", "other"),
        ]))
        .expect("credentials");
        assert_eq!(ours.access_key_id, "id1");
        assert!(!format!("{ours:?}").contains("hunter2"));

        let aws = S3Credentials::from_lookup(env(&[
            ("AWS_ACCESS_KEY_ID", "id2"),
            ("AWS_SECRET_ACCESS_KEY", "other"),
        ]))
        .expect("AWS credentials");
        assert_eq!(aws.access_key_id, "id2");

        for vars in [
            &[][..],
            &[
                ("SANSANG_S3_ACCESS_KEY_ID", "id1"),
                ("AWS_SECRET_ACCESS_KEY", "other"),
            ][..],
        ] {
            let error = S3Credentials::from_lookup(env(vars)).expect_err("no full pair");
            assert_eq!(error.code(), "photo-store-credentials");
            assert!(error.to_string().contains("SANSANG_S3_ACCESS_KEY_ID"));
        }
    }
}
