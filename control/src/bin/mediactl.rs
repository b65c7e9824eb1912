//! mediactl: send one control op to mediad and print the answer.
//!
//!   mediactl stats.daemon
//!   mediactl leg.create media=video rtcp_mux=true remote=127.0.0.1:5004
//!   mediactl room.attach room=demo leg=256
//!   mediactl --raw '{"id":1,"op":"leg.list"}'
//!   mediactl events.subscribe        (then prints events until interrupted)
//!
//! `key=value` pairs become JSON fields; values that parse as JSON (numbers, true,
//! false, objects) are sent as such, anything else as a string.

use clap::Parser;
use control::{Client, ClientError, Op};
use std::time::Duration;

#[derive(Parser)]
#[command(version, about = "Send one op to mediad's control socket and print the reply")]
struct Args {
    /// Control socket path.
    #[arg(short, long, env = "MEDIAD_SOCKET", default_value = control::DEFAULT_SOCKET)]
    socket: String,
    /// Send this exact JSON line instead of building one.
    #[arg(long)]
    raw: Option<String>,
    /// The op name (leg.create, stats.daemon, ...).
    op: Option<String>,
    /// key=value fields of the op.
    fields: Vec<String>,
}

fn main() {
    let args = Args::parse();
    if let Err(e) = run(args) {
        eprintln!("mediactl: {e}");
        std::process::exit(match e {
            ClientError::Daemon(_) => 1,
            _ => 2,
        });
    }
}

fn run(args: Args) -> Result<(), ClientError> {
    let (mut client, _hello) = Client::connect(&args.socket, "mediactl")?;
    if let Some(raw) = args.raw {
        print!("{}", client.raw(&raw)?);
        return Ok(());
    }
    let Some(op) = args.op else {
        return Err(ClientError::Protocol("an op name is required (see --help)".into()));
    };
    let mut obj = serde_json::Map::new();
    obj.insert("op".into(), op.clone().into());
    for f in &args.fields {
        let (k, v) = f
            .split_once('=')
            .ok_or_else(|| ClientError::Protocol(format!("field `{f}` is not key=value")))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        obj.insert(k.to_string(), value);
    }
    obj.insert("id".into(), 0.into());
    let parsed: control::Request = serde_json::from_value(serde_json::Value::Object(obj))
        .map_err(|e| ClientError::Protocol(format!("{op}: {e}")))?;
    let subscribe = matches!(parsed.op, Op::EventsSubscribe { .. });
    let value = client.call_value(parsed.op)?;
    println!("{}", serde_json::to_string_pretty(&value).unwrap());
    if subscribe {
        loop {
            if let Some(ev) = client.next_event(Duration::from_secs(3600))? {
                println!("{}", serde_json::to_string(&ev).unwrap());
            }
        }
    }
    Ok(())
}
