//! A device's push token: registered and removed by the device itself, for
//! its own (user, device) only; logic checks and stores it.

use tidings_core::Error;
use tidings_proto::client::v1::{self as client, server_frame::Frame as Out};
use tidings_proto::logic::v1 as logic;

use crate::session::{Conn, Identity};

impl Conn {
    /// Registers (`Some`) or removes (`None`) this device's push token.
    pub(crate) async fn set_push_token(
        &self,
        identity: &Identity,
        token: Option<client::RegisterPushToken>,
    ) -> Result<Out, Error> {
        let (platform, token) = token.map(|t| (t.platform, t.token)).unwrap_or_default();
        let answer = self
            .gateway
            .backends
            .logic
            .clone()
            .set_push_token(logic::SetPushTokenRequest {
                user_id: identity.user.to_string(),
                device_id: identity.device.to_string(),
                platform,
                token,
            })
            .await?
            .into_inner();
        Ok(Out::PushTokenResult(client::PushTokenResult {
            registered: answer.registered,
        }))
    }
}
