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
mod messages;
mod outbound;
mod push;
mod room_registrations;
mod rooms;
mod send_batcher;
mod server;
mod session;
mod state;
mod writer;

pub use auth::{Authenticator, DevAuthenticator};
pub use config::GatewayConfig;
pub use hub::Hub;
pub use inbound::decode_client_frame;
pub use push::GatewayServer;
pub use state::{Gateway, GatewayBackends};
