//! Push tokens: one per (user, device), replaced on the same device, listed
//! per user in device-id order, read for many users in order.

use super::unique_id;
use crate::{PushToken, Tables};

fn token(device: &str, platform: &str, value: &str, at: i64) -> PushToken {
    PushToken {
        device_id: device.to_string(),
        platform: platform.to_string(),
        token: value.to_string(),
        updated_at_ms: at,
    }
}

/// Put lists the token; a second put on the same device replaces it; two
/// devices come in device-id order.
pub async fn push_tokens_replace_per_device(tables: &Tables) {
    let store = &tables.push_tokens;
    let user = unique_id("user");
    let phone = token("phone", "apns", "t1", 1000);
    store.put_push_token(&user, &phone).await.unwrap();
    let listed = store
        .push_tokens(std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(listed, [vec![phone]]);

    let phone = token("phone", "apns_sandbox", "t2 with space", 2000);
    let laptop = token("laptop", "webpush", r#"{"endpoint":"x"}"#, 3000);
    store.put_push_token(&user, &phone).await.unwrap();
    store.put_push_token(&user, &laptop).await.unwrap();
    let listed = store
        .push_tokens(std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(listed, [vec![laptop, phone]]);
}

/// Remove answers whether there was a token, and takes only that device's.
pub async fn push_tokens_remove_reports_presence(tables: &Tables) {
    let store = &tables.push_tokens;
    let user = unique_id("user");
    let tablet = token("tablet", "fcm", "t", 1);
    store
        .put_push_token(&user, &token("phone", "fcm", "p", 1))
        .await
        .unwrap();
    store.put_push_token(&user, &tablet).await.unwrap();
    assert!(store.remove_push_token(&user, "phone").await.unwrap());
    assert!(!store.remove_push_token(&user, "phone").await.unwrap());
    assert!(!store.remove_push_token(&user, "never").await.unwrap());
    let listed = store
        .push_tokens(std::slice::from_ref(&user))
        .await
        .unwrap();
    assert_eq!(listed, [vec![tablet]]);
}

/// Users come back in the order asked, repeated ones repeated, unknown ones
/// empty, and users whose ids share a prefix see only their own.
pub async fn push_tokens_batched_in_user_order(tables: &Tables) {
    let store = &tables.push_tokens;
    let a = unique_id("user");
    let ab = format!("{a}b");
    let unknown = unique_id("user");
    let ta = token("d", "fcm", "a", 1);
    let tab = token("d", "apns", "ab", 2);
    store.put_push_token(&a, &ta).await.unwrap();
    store.put_push_token(&ab, &tab).await.unwrap();
    let users = [ab.clone(), unknown, a.clone(), ab];
    let listed = store.push_tokens(&users).await.unwrap();
    assert_eq!(listed, [vec![tab.clone()], vec![], vec![ta], vec![tab]]);
    assert!(store.push_tokens(&[]).await.unwrap().is_empty());
}
