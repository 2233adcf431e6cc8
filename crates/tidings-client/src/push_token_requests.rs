//! Push tokens: a device registers the token its platform's push service
//! gave it (APNs, FCM, Web Push...), so the deployment's offline_push
//! webhook can reach the user while none of its devices is connected. One
//! token per device; registering again replaces it. Remove it at sign-out.

use tidings_proto::client::v1 as pb;
use tidings_proto::client::v1::{client_frame, server_frame};

use crate::connection::Connection;
use crate::error::Result;
use crate::requests::unexpected;

impl Connection {
    /// Registers this device's push token for `platform` (1..=32 chars of
    /// `[a-z0-9_-]`, e.g. `apns`, `fcm`, `webpush`).
    pub async fn register_push_token(&self, platform: &str, token: &str) -> Result<bool> {
        let frame = client_frame::Frame::RegisterPushToken(pb::RegisterPushToken {
            platform: platform.to_string(),
            token: token.to_string(),
        });
        push_token_result(self.request(frame).await?)
    }

    /// Removes this device's push token; `Ok(false)` (no token now) either way.
    pub async fn remove_push_token(&self) -> Result<bool> {
        let frame = client_frame::Frame::RemovePushToken(pb::RemovePushToken {});
        push_token_result(self.request(frame).await?)
    }
}

fn push_token_result(frame: pb::ServerFrame) -> Result<bool> {
    match frame.frame {
        Some(server_frame::Frame::PushTokenResult(result)) => Ok(result.registered),
        other => Err(unexpected("push_token_result", other)),
    }
}
