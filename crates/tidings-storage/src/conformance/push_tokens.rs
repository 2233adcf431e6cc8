//! Push tokens: one per (user, device), replaced on the same device, listed
//! per user in device-id order, read for many users in the order asked.

use super::unique_id;
use crate::{PushToken, Tables};

/// The tokens of `user` alone.
async fn tokens_of(tables: &Tables, user: &str) -> Vec<PushToken> {
    let mut lists = tables
        .push_tokens
        .push_tokens(&[user.to_string()])
        .await
        .unwrap();
    assert_eq!(lists.len(), 1, "one list per user asked");
    lists.remove(0)
}

fn token(device: &str, platform: &str, value: &str, updated_at_ms: i64) -> PushToken {
    PushToken {
        device_id: device.to_string(),
        platform: platform.to_string(),
        token: value.to_string(),
        updated_at_ms,
    }
}

/// A put is listed; a second put on the same device replaces it, every
/// field; two devices come in device-id order.
pub async fn push_tokens_replace_per_device(tables: &Tables) {
    let store = &tables.push_tokens;
    let user = unique_id("user");
    let first = token("phone", "apns", "t1", 1000);
    store.put_push_token(&user, &first).await.unwrap();
    assert_eq!(tokens_of(tables, &user).await, [first]);

    let phone = token("phone", "fcm", "t2 with space", 2000);
    store.put_push_token(&user, &phone).await.unwrap();
    assert_eq!(tokens_of(tables, &user).await, std::slice::from_ref(&phone));

    let laptop = token("laptop", "webpush", r#"{"endpoint":"https://x"}"#, 3000);
    store.put_push_token(&user, &laptop).await.unwrap();
    assert_eq!(tokens_of(tables, &user).await, [laptop, phone]);
}

/// Remove answers whether the device had a token, and takes only that
/// device's; a device that re-registers after a remove has its new token.
pub async fn push_tokens_remove_reports_presence(tables: &Tables) {
    let store = &tables.push_tokens;
    let user = unique_id("user");
    let tablet = token("tablet", "fcm", "tab", 1);
    store
        .put_push_token(&user, &token("phone", "fcm", "old", 1))
        .await
        .unwrap();
    store.put_push_token(&user, &tablet).await.unwrap();

    assert!(store.remove_push_token(&user, "phone").await.unwrap());
    assert!(!store.remove_push_token(&user, "phone").await.unwrap());
    assert!(!store.remove_push_token(&user, "never").await.unwrap());
    assert_eq!(
        tokens_of(tables, &user).await,
        std::slice::from_ref(&tablet)
    );

    let phone = token("phone", "apns", "new", 2);
    store.put_push_token(&user, &phone).await.unwrap();
    assert_eq!(tokens_of(tables, &user).await, [phone, tablet]);
}

/// Lists come back in the order of the users asked, a repeated user's
/// repeated, an empty one for a user without tokens; no users, no lists.
pub async fn push_tokens_batched_in_user_order(tables: &Tables) {
    let store = &tables.push_tokens;
    let (alice, bob, unknown) = (unique_id("user"), unique_id("user"), unique_id("user"));
    let alice_phone = token("phone", "apns", "a", 1);
    let bob_desk = token("desk", "webpush", "b1", 2);
    let bob_phone = token("phone", "fcm", "b2", 3);
    store.put_push_token(&alice, &alice_phone).await.unwrap();
    store.put_push_token(&bob, &bob_phone).await.unwrap();
    store.put_push_token(&bob, &bob_desk).await.unwrap();

    let users = [bob.clone(), unknown, alice.clone(), bob];
    let listed = store.push_tokens(&users).await.unwrap();
    let bobs = vec![bob_desk, bob_phone];
    assert_eq!(listed, [bobs.clone(), vec![], vec![alice_phone], bobs]);
    assert!(store.push_tokens(&[]).await.unwrap().is_empty());
}

/// The same device id under two users is two tokens: neither is listed
/// under the other, nor removed through it, even when one user id is a
/// prefix of the other ("u1", "u10").
pub async fn push_tokens_isolated_between_users(tables: &Tables) {
    let store = &tables.push_tokens;
    let base = unique_id("u");
    let (short, long) = (format!("{base}1"), format!("{base}10"));
    let short_phone = token("phone", "apns", "short", 1);
    let long_phone = token("phone", "fcm", "long", 2);
    store.put_push_token(&short, &short_phone).await.unwrap();
    store.put_push_token(&long, &long_phone).await.unwrap();

    let users = [short.clone(), long.clone(), base.clone()];
    let listed = store.push_tokens(&users).await.unwrap();
    assert_eq!(
        listed,
        [vec![short_phone.clone()], vec![long_phone], vec![]]
    );

    assert!(!store.remove_push_token(&base, "phone").await.unwrap());
    assert!(store.remove_push_token(&long, "phone").await.unwrap());
    let listed = store.push_tokens(&users).await.unwrap();
    assert_eq!(listed, [vec![short_phone], vec![], vec![]]);
}
