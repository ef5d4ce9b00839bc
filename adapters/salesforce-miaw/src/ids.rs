//! Client-made ids. MIAW wants a lowercase UUID for each new conversation
//! and message; deriving them from the handover id (and a counter) makes a
//! retried call reuse the id the provider may already have seen.

/// A UUID derived from `name` with 128-bit FNV-1a: stable across builds and
/// platforms, distinct for distinct names. It is laid out as version 4
/// (variant 10xx) so validators that accept only v1–v5 UUIDs take it.
pub fn uuid_for(name: &str) -> String {
    const OFFSET: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut hash = OFFSET;
    for byte in name.bytes() {
        hash ^= u128::from(byte);
        hash = hash.wrapping_mul(PRIME);
    }
    let mut b = hash.to_be_bytes();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// The conversation id of a handover.
pub fn conversation_id(handover_id: &str) -> String {
    uuid_for(&format!("salesforce-miaw/conversation/{handover_id}"))
}

/// The id of the `n`th message the adapter sends in a handover.
pub fn message_id(handover_id: &str, n: u32) -> String {
    uuid_for(&format!("salesforce-miaw/message/{handover_id}/{n}"))
}

/// The id of the `n`th typing indicator the adapter sends in a handover.
pub fn entry_id(handover_id: &str, n: u32) -> String {
    uuid_for(&format!("salesforce-miaw/entry/{handover_id}/{n}"))
}

/// Whether `id` is a UUID in MIAW's form (lowercase, hyphenated).
pub fn is_uuid(id: &str) -> bool {
    id.len() == 36
        && id.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_digit() || ('a'..='f').contains(&c),
        })
}
