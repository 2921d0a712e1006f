//! The return path that lets the proxy keep a client's source address towards a local
//! backend (IP_TRANSPARENT): the backend's replies are addressed to the client, not to
//! this node, so they must be delivered to the proxy's socket instead of being
//! forwarded. An nftables rule marks packets that belong to a transparent socket, and a
//! policy-routing rule sends marked packets to a table whose only route is `local`.
//!
//! This works for backends whose replies come back through this node — pods on this
//! node, whose default route is the node. For other endpoints the proxy connects from
//! the node's address, as kube-proxy's user-space mode did.

/// The packet mark and routing table (one number for both).
pub const MARK: u32 = 0x1c1b;
const TABLE: &str = "clipper_tproxy";

async fn run(program: &str, args: &[&str], stdin: Option<&str>) -> Result<(), String> {
    crate::vip::run(program, args, stdin)
        .await
        .map(|_| ())
        .map_err(|e| e.to_string())
}

/// Installs the mark rule, the policy-routing rules and the local routes (IPv4 and
/// IPv6), replacing what an earlier run left.
pub async fn install() -> Result<(), String> {
    remove().await;
    let mark = format!("{MARK:#x}");
    let table_no = MARK.to_string();
    let script = format!(
        "table inet {TABLE} {{\n  chain prerouting {{\n    type filter hook prerouting priority mangle; policy accept;\n    meta l4proto tcp socket transparent 1 meta mark set {mark}\n  }}\n}}\n"
    );
    run("nft", &["-f", "-"], Some(&script)).await?;
    for (family, local) in [("-4", "0.0.0.0/0"), ("-6", "::/0")] {
        run(
            "ip",
            &[family, "rule", "add", "fwmark", &mark, "lookup", &table_no],
            None,
        )
        .await?;
        run(
            "ip",
            &[
                family, "route", "replace", "local", local, "dev", "lo", "table", &table_no,
            ],
            None,
        )
        .await?;
    }
    Ok(())
}

/// Removes everything [`install`] added (errors ignored: parts may be absent).
pub async fn remove() {
    let mark = format!("{MARK:#x}");
    let table_no = MARK.to_string();
    let _ = run("nft", &["delete", "table", "inet", TABLE], None).await;
    for family in ["-4", "-6"] {
        // Rules can be duplicated by crashed runs: delete until none is left (bounded).
        for _ in 0..16 {
            if run(
                "ip",
                &[family, "rule", "del", "fwmark", &mark, "lookup", &table_no],
                None,
            )
            .await
            .is_err()
            {
                break;
            }
        }
        let _ = run("ip", &[family, "route", "flush", "table", &table_no], None).await;
    }
}
