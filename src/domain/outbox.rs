//! Keys that make a repeated send harmless on the channel's side.
//!
//! VK drops a `messages.send` whose `random_id` it has seen from the community before. The
//! id must therefore be the same on every retry of one reply and different for every
//! other reply — also across installations: a restored backup or a reinstall starts its
//! outbox rows from 1 again, and ids made from the row number alone would make VK skip
//! new replies as repeats while Dialogi shows them sent. So the id is derived from the
//! installation's own random secret and the outbox row.

use hmac::{KeyInit, Mac};

/// The `random_id` for outbox row `outbox_id` of the installation with `secret`: stable,
/// in VK's positive int32 range.
pub fn vk_random_id(secret: &[u8], outbox_id: i64) -> i32 {
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return (outbox_id % i64::from(i32::MAX)).max(1) as i32;
    };
    mac.update(&outbox_id.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let raw = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    // 1 ..= i32::MAX - 1
    (raw % (i32::MAX as u32 - 1)) as i32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_keeps_its_random_id_and_installations_differ() {
        let here = b"one installation's secret";
        let there = b"another installation's secret";
        assert_eq!(vk_random_id(here, 1), vk_random_id(here, 1));
        assert_ne!(vk_random_id(here, 1), vk_random_id(here, 2));
        assert_ne!(vk_random_id(here, 1), vk_random_id(there, 1));
        for row in 1..2000 {
            let id = vk_random_id(here, row);
            assert!((1..i32::MAX).contains(&id), "{id}");
        }
    }
}
