//! The arguments of `sansang admin …`, the commands that set up a commune from a terminal: the
//! commune and its hamlets, accounts, enrollment codes for volunteers' phones, and the phones.

pub mod admin;
pub(crate) mod csv;
mod devices;
pub mod export;
pub mod hamlets_csv;
mod photos;

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::storage::Role;

#[derive(Debug, Subcommand)]
pub enum AdminCommand {
    /// Communes (xã / phường / đặc khu).
    #[command(subcommand)]
    Commune(CommuneCommand),
    /// Hamlets (thôn / tổ dân phố) of a commune.
    #[command(subcommand)]
    Hamlets(HamletsCommand),
    /// The commune's household list (roster): import it from xlsx or CSV.
    #[command(subcommand)]
    Roster(RosterCommand),
    /// Accounts of people who sign in (admins, commune staff, hamlet heads).
    #[command(subcommand)]
    User(UserCommand),
    /// Passwords of accounts.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// Issue a one-time enrollment code for a volunteer's phone; prints it with a QR code.
    Enroll(EnrollArgs),
    /// Volunteers' enrolled phones.
    #[command(subcommand)]
    Devices(DevicesCommand),
    /// The photo store: remove unreferenced photos, move photos to another store.
    #[command(subcommand)]
    Photos(PhotosCommand),
    /// Retention: what is held and for how long; apply the configured limits now.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// The audit log: whose data one phone or person touched (breach notification).
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Documents phones sent for a hamlet outside their own: list them, release one into a
    /// hamlet, or erase it. Run with the server stopped (or use the API while it runs).
    #[command(subcommand)]
    Quarantine(QuarantineCommand),
    /// Write a consistent backup of the database and its photos to one archive (a tar file);
    /// the server may keep running.
    Backup {
        /// The archive to write; it must not exist yet.
        #[arg(long, value_name = "FILE.tar")]
        out: std::path::PathBuf,
    },
    /// Bring a backup back into the configured database and photo store, which must be empty
    /// (a new data folder, a new PostgreSQL database); checks every photo and document.
    Restore {
        /// An archive written by `sansang admin backup`.
        #[arg(long, value_name = "FILE.tar")]
        from: std::path::PathBuf,
    },
}

#[derive(Debug, Subcommand)]
pub enum RosterCommand {
    /// Import the household list: xlsx (first sheet) or CSV (UTF-8, with or without BOM), a
    /// header row with hamlet (thôn), code (mã hộ), address (địa chỉ), optionally head (chủ hộ)
    /// and members (số nhân khẩu). The whole file is checked first: any problem is printed with
    /// its line and column and nothing is written. One household document is made for each new
    /// listed household; importing the same file again changes nothing.
    Import {
        #[arg(long)]
        commune: String,
        /// The roster file.
        file: PathBuf,
        /// Check the file and print what would change; write nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum QuarantineCommand {
    /// Every quarantined document (one commune's with --commune), oldest change first.
    List {
        #[arg(long)]
        commune: Option<String>,
    },
    /// Put a quarantined document into a hamlet of its commune: the hamlet is written into it
    /// and it joins that hamlet's list and phones.
    Release {
        /// The document id (`sansang admin quarantine list`).
        document_id: String,
        /// The hamlet it belongs to.
        #[arg(long)]
        hamlet: String,
    },
    /// Erase a quarantined document whole (changes, projection, photos nobody else uses).
    Erase {
        document_id: String,
        /// Why, kept in the audit log (never a person's name).
        #[arg(long)]
        reason: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PhotosCommand {
    /// Remove uploaded photos that no household references and that are older than the grace
    /// period (the server also does this every hour).
    Sweep {
        /// Hours an unreferenced photo is kept; the configured `orphan_photo_grace_hours` when
        /// not given.
        #[arg(long)]
        grace_hours: Option<u64>,
    },
    /// Copy every photo of the configured store into another one, e.g. a folder into S3. Run it
    /// again after an interruption: what is already there is not copied again. Then point
    /// `photo_store` at the new store and restart.
    Migrate {
        /// The target store: a folder path, `file:///…` or `s3://bucket[/prefix]?endpoint=…`.
        #[arg(long)]
        to: String,
        /// Delete each photo from the configured store once its copy is read back equal.
        #[arg(long)]
        delete_source: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum CommuneCommand {
    /// Create a commune, or update its names when the code exists.
    #[command(after_help = HAMLETS_CSV_HELP)]
    Create {
        /// National commune code: exactly 5 digits, e.g. 10846.
        #[arg(long)]
        code: String,
        /// Commune name, e.g. "Xã Hà Tây".
        #[arg(long)]
        name: String,
        /// Province or city, e.g. "Thành phố Hải Phòng".
        #[arg(long)]
        province: String,
        /// Also import its hamlets from this CSV file (nothing is written if a line is bad).
        #[arg(long, value_name = "FILE.csv")]
        hamlets: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum HamletsCommand {
    /// Create or update a commune's hamlets from a CSV file; hamlets not in the file are kept.
    #[command(after_help = HAMLETS_CSV_HELP)]
    Import {
        /// Commune code (5 digits).
        #[arg(long)]
        commune: String,
        /// The CSV file.
        #[arg(value_name = "FILE.csv")]
        file: PathBuf,
    },
}

pub const HAMLETS_CSV_HELP: &str = "\
Hamlet CSV file: UTF-8 (with or without BOM), a header row, then one hamlet per line:
    id,name,expected_households
    T01,Thôn Đông,320
    T02,\"Tổ dân phố 2, khu Bắc\",
Vietnamese headers work too: mã, tên, số hộ (or ma, ten, so_ho). The household count is
optional. Every line is checked first; if any is bad, nothing is written.";

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create an account; prints its generated password once.
    Create {
        /// Sign-in name (stored trimmed, NFC, lower case).
        #[arg(long)]
        username: String,
        /// Name shown to others, e.g. "Trần Thị B".
        #[arg(long = "name", value_name = "DISPLAY_NAME")]
        display_name: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        /// Commune code; required except for an installation-wide admin.
        #[arg(long)]
        commune: Option<String>,
        /// Hamlet id a hamlet head is responsible for (repeat for several).
        #[arg(long = "hamlet", value_name = "HAMLET_ID")]
        hamlets: Vec<String>,
        /// Read the password from the first line of standard input instead of generating one.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RoleArg {
    /// Sets up communes, accounts and phones.
    Admin,
    /// Cán bộ xã: reads the commune's summaries and exports.
    CommuneStaff,
    /// Trưởng thôn: reviews the households of their hamlets.
    HamletHead,
}

impl From<RoleArg> for Role {
    fn from(r: RoleArg) -> Role {
        match r {
            RoleArg::Admin => Role::Admin,
            RoleArg::CommuneStaff => Role::CommuneStaff,
            RoleArg::HamletHead => Role::HamletHead,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum PasswordCommand {
    /// Give an account a new generated password (printed once) and sign it out everywhere.
    Reset {
        /// The account's sign-in name.
        username: String,
    },
}

#[derive(Debug, Args)]
pub struct EnrollArgs {
    /// Commune code (5 digits).
    #[arg(long)]
    pub commune: String,
    /// Name of the volunteer (tình nguyện viên) who will carry the phone.
    #[arg(long)]
    pub volunteer: String,
    /// Hamlet id the phone may survey (repeat for several).
    #[arg(long = "hamlet", value_name = "HAMLET_ID", required = true)]
    pub hamlets: Vec<String>,
    /// Hours the code stays valid, 1 to 168.
    #[arg(long, default_value_t = 24)]
    pub hours: u64,
}

#[derive(Debug, Subcommand)]
pub enum RetentionCommand {
    /// What is held (households, photos, quarantined documents, the audit log) and the rules.
    Report,
    /// Apply `evidence_retention_days` and `quarantine_retention_days` now (the server does it
    /// every hour); run it with the server stopped, so no copy in its memory outlives an erasure.
    Apply,
}

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Every household (and its members' names) a phone or an account read, changed, saw a
    /// photo of or exported between two times: the list to notify after a breach.
    Touched {
        /// The account's username.
        #[arg(long, conflicts_with = "device", required_unless_present = "device")]
        user: Option<String>,
        /// The phone's device id (`sansang admin devices list`).
        #[arg(long)]
        device: Option<String>,
        /// From this day (Vietnam time) or RFC 3339 time, e.g. 2026-11-01.
        #[arg(long)]
        from: String,
        /// Until the end of this day, or this RFC 3339 time.
        #[arg(long)]
        to: String,
        /// Write one row per person as CSV (UTF-8 with BOM) to this file.
        #[arg(long, value_name = "FILE.csv")]
        out: Option<std::path::PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum DevicesCommand {
    /// List a commune's enrolled phones, active and revoked.
    List {
        /// Commune code (5 digits).
        #[arg(long)]
        commune: String,
    },
    /// Revoke a phone: its token stops working at its next request.
    Revoke {
        /// The device id shown by `sansang admin devices list`.
        device_id: String,
    },
}
