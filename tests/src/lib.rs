//! End-to-end tests of Tidings live in `tests/tests/`: every test talks to a
//! real server over real sockets (WebSocket for devices, gRPC for services).
