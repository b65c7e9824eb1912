//! The WebRTC edge of signal: SDP (sans-IO), conferences (who publishes what, who
//! subscribes to whom, turned into mediad control ops), and the WebSocket protocol.

pub mod ice_servers;
pub mod sdp;
pub mod conference;
pub mod ws;
