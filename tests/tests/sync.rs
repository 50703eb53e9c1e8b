//! Phones syncing over the real socket with the Rust client of the protocol, on SQLite and on
//! PostgreSQL: documents created, fetched, merged with conflicts visible, kept inside the
//! caller's hamlets, bad input refused without harm, revoked phones cut off.

#![allow(clippy::unwrap_used)]

#[allow(dead_code)] // the HTTP helpers of the fixture are for the access suite
#[path = "access/fixture.rs"]
mod fixture;
#[path = "sync/limits.rs"]
mod limits;
#[path = "sync/moves.rs"]
mod moves;
#[path = "sync/servers.rs"]
mod servers;
#[path = "sync/stories.rs"]
mod stories;

use limits::{idle_sync_states_start_again, sync_costs_are_bounded_per_token};
use moves::{
    a_move_racing_a_phone_reaches_none_of_it, a_peer_id_stays_with_its_token,
    a_refused_message_leaves_nothing_behind, households_move_only_through_the_hamlet_head,
    new_households_from_outside_wait_for_the_admin, revocation_ends_open_sockets_at_once,
};
use servers::{
    a_change_let_in_by_a_catch_up_is_stored, a_listener_cut_without_a_word_is_replaced,
    a_rolling_upgrade_leaves_no_older_projection, an_erasure_reaches_the_phones_of_every_server,
    several_servers_share_one_database, the_servers_share_each_tokens_budget,
};
use stories::{
    bad_input_is_refused_and_harms_nobody, concurrent_edits_merge_and_show_the_conflict,
    documents_stay_inside_the_callers_hamlets, phones_store_and_fetch_documents,
    revoked_and_unknown_tokens_are_cut_off, the_http_fallback_syncs_like_the_socket,
};

sansang_tests::backend_tests!(
    phones_store_and_fetch_documents,
    concurrent_edits_merge_and_show_the_conflict,
    documents_stay_inside_the_callers_hamlets,
    bad_input_is_refused_and_harms_nobody,
    revoked_and_unknown_tokens_are_cut_off,
    the_http_fallback_syncs_like_the_socket,
    households_move_only_through_the_hamlet_head,
    a_move_racing_a_phone_reaches_none_of_it,
    a_refused_message_leaves_nothing_behind,
    new_households_from_outside_wait_for_the_admin,
    a_peer_id_stays_with_its_token,
    sync_costs_are_bounded_per_token,
    idle_sync_states_start_again,
    revocation_ends_open_sockets_at_once,
    several_servers_share_one_database,
    the_servers_share_each_tokens_budget,
    a_rolling_upgrade_leaves_no_older_projection,
    a_change_let_in_by_a_catch_up_is_stored,
    an_erasure_reaches_the_phones_of_every_server,
    a_listener_cut_without_a_word_is_replaced,
);
