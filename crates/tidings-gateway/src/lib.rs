//! The gateway: holds client WebSocket connections, authenticates them,
//! records where each device is connected in the registry, forwards client
//! requests to logic and sync, and writes pushes to connections.
//!
//! The gateway holds no business logic: it never decides who receives a
//! message or who may write where. It vouches only for the identity of its
//! connections, which it derives from the token, never from the client.

mod auth;
mod compression;
mod config;
mod connection;
mod dispatch;
mod drain;
mod frame_limit;
mod groups;
mod hub;
mod inbound;
mod jwks;
mod jwt;
mod limits;
mod message_events;
mod messages;
mod outbound;
mod presence;
mod presence_watch;
mod push;
mod push_tokens;
mod room_registrations;
mod rooms;
mod send_batcher;
mod server;
mod session;
mod state;
mod tls;
mod token_expiry;
mod typing;
mod web;
mod writer;

pub use auth::{Authenticated, Authenticator, DevAuthenticator, build_authenticator};
pub use config::{AuthConfig, AuthScheme, GatewayConfig, JwtConfig};
pub use hub::Hub;
pub use inbound::decode_client_frame;
pub use jwt::JwtAuthenticator;
pub use limits::LimitsConfig;
pub use push::{CLOSE_DISCONNECTED, GatewayServer};
pub use state::{Gateway, GatewayBackends};
pub use tls::{ReloadingCert, TlsConfig, TlsListener, server_config as tls_server_config};
pub use token_expiry::CLOSE_TOKEN_EXPIRED;
