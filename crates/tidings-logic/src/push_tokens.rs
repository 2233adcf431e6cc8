//! Devices' push tokens (the table logic owns, DESIGN §8), registered by the
//! devices themselves and read by the offline_push webhook.

use tidings_core::{DeviceId, Error, UserId, now_ms};
use tidings_proto::logic::v1 as pb;
use tidings_storage::PushToken;

use crate::service::LogicServer;

/// Longest platform name, in bytes.
pub const MAX_PLATFORM_BYTES: usize = 32;
/// Longest token, in bytes (a Web Push subscription as JSON fits).
pub const MAX_TOKEN_BYTES: usize = 4096;

impl LogicServer {
    /// Registers (platform and token set) or removes (both empty) the push
    /// token of one device.
    pub(crate) async fn handle_set_push_token(
        &self,
        req: pb::SetPushTokenRequest,
    ) -> Result<pb::SetPushTokenResponse, Error> {
        let user = UserId::parse(&req.user_id)?;
        let device = DeviceId::parse(&req.device_id)?;
        if req.platform.is_empty() && req.token.is_empty() {
            self.backends
                .push_tokens
                .remove_push_token(user.as_str(), device.as_str())
                .await?;
            return Ok(pb::SetPushTokenResponse { registered: false });
        }
        check_platform(&req.platform)?;
        check_token(&req.token)?;
        let token = PushToken {
            device_id: device.to_string(),
            platform: req.platform,
            token: req.token,
            updated_at_ms: now_ms(),
        };
        self.backends
            .push_tokens
            .put_push_token(user.as_str(), &token)
            .await?;
        Ok(pb::SetPushTokenResponse { registered: true })
    }
}

fn check_platform(platform: &str) -> Result<(), Error> {
    let allowed = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-';
    if platform.is_empty() || platform.len() > MAX_PLATFORM_BYTES || !platform.bytes().all(allowed)
    {
        return Err(Error::invalid(format!(
            "platform must be 1 to {MAX_PLATFORM_BYTES} characters of [a-z0-9_-] (e.g. \"apns\", \"fcm\"), got {platform:?}"
        )));
    }
    Ok(())
}

fn check_token(token: &str) -> Result<(), Error> {
    if token.is_empty() || token.len() > MAX_TOKEN_BYTES {
        return Err(Error::invalid(format!(
            "token must be 1 to {MAX_TOKEN_BYTES} bytes, got {}",
            token.len()
        )));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic() || b == b' ') {
        return Err(Error::invalid(
            "token must be printable ASCII (encode binary tokens, e.g. as hex)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_and_tokens_are_checked() {
        assert!(check_platform("apns").is_ok());
        assert!(check_platform("apns_sandbox").is_ok());
        assert!(check_platform("").is_err());
        assert!(check_platform("APNS").is_err());
        assert!(check_platform(&"a".repeat(33)).is_err());
        assert!(check_token("abc123").is_ok());
        assert!(check_token(r#"{"endpoint":"https://x","keys":{}}"#).is_ok());
        assert!(check_token("").is_err());
        assert!(check_token("tab\there").is_err());
        assert!(check_token(&"a".repeat(4097)).is_err());
    }
}
