//! Benchmarks live in benches/; see benches/packet_path.rs.
