//! The audio MCU's sans-IO parts: codecs, resampling, jitter buffers, levels, the
//! mixer, DTMF and prompts. Nothing here touches a socket or a clock of its own: the
//! engine feeds packets and calls the 20 ms tick.

pub mod codec;
pub mod dtmf;
pub mod input;
pub mod jitter;
pub mod mixer;
pub mod output;
pub mod prompt;
pub mod resample;
