//! Network namespaces for partition tests: one namespace per member, each
//! with a veth pair whose other end is on a bridge in the test's own
//! namespace (the bridge has an address too, so the test reaches every
//! member). A member is cut off with nftables drop rules inside its
//! namespace for traffic to and from the other members only, so clients can
//! still see what the cut-off member answers. Everything is deleted on drop.

use std::process::Command;

pub struct Net {
    bridge: String,
    namespaces: Vec<String>,
    /// The members' addresses, in namespace order.
    pub hosts: Vec<String>,
    subnet: u8,
}

fn run(args: &[&str]) -> Result<(), String> {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .map_err(|e| format!("{}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl Net {
    /// `n` namespaces on subnet 10.231.`subnet`.0/24 (members at .11, .12,
    /// ...). Fails (after cleaning up) when namespaces cannot be made, e.g.
    /// without root.
    pub fn create(subnet: u8, n: usize) -> Result<Net, String> {
        let mut net = Net {
            bridge: format!("oxraft{subnet}"),
            namespaces: Vec::new(),
            hosts: Vec::new(),
            subnet,
        };
        net.setup(n)?;
        Ok(net)
    }

    fn setup(&mut self, n: usize) -> Result<(), String> {
        let s = self.subnet;
        // Left over from a killed run.
        let _ = run(&["ip", "link", "del", &self.bridge]);
        run(&["ip", "link", "add", &self.bridge, "type", "bridge"])?;
        run(&[
            "ip",
            "addr",
            "add",
            &format!("10.231.{s}.1/24"),
            "dev",
            &self.bridge,
        ])?;
        run(&["ip", "link", "set", &self.bridge, "up"])?;
        for i in 0..n {
            let ns = format!("oxraft-{s}-{i}");
            let outside = format!("oxr{s}h{i}");
            let inside = format!("oxr{s}n{i}");
            let host = format!("10.231.{s}.{}", 11 + i);
            let _ = run(&["ip", "link", "del", &outside]);
            let _ = run(&["ip", "netns", "del", &ns]);
            run(&["ip", "netns", "add", &ns])?;
            self.namespaces.push(ns.clone());
            run(&[
                "ip", "link", "add", &outside, "type", "veth", "peer", "name", &inside,
            ])?;
            run(&["ip", "link", "set", &inside, "netns", &ns])?;
            run(&["ip", "link", "set", &outside, "master", &self.bridge])?;
            run(&["ip", "link", "set", &outside, "up"])?;
            run(&["ip", "netns", "exec", &ns, "ip", "link", "set", "lo", "up"])?;
            run(&[
                "ip",
                "netns",
                "exec",
                &ns,
                "ip",
                "addr",
                "add",
                &format!("{host}/24"),
                "dev",
                &inside,
            ])?;
            run(&[
                "ip", "netns", "exec", &ns, "ip", "link", "set", &inside, "up",
            ])?;
            self.hosts.push(host);
        }
        Ok(())
    }

    pub fn namespace(&self, i: usize) -> String {
        self.namespaces[i].clone()
    }

    /// Drops all traffic between member `i` and the other members.
    pub fn isolate(&self, i: usize) {
        let ns = &self.namespaces[i];
        let others: Vec<&str> = self
            .hosts
            .iter()
            .enumerate()
            .filter(|(j, _)| *j != i)
            .map(|(_, h)| h.as_str())
            .collect();
        let set = format!("{{ {} }}", others.join(", "));
        let script = format!(
            "table inet oxpartition {{\n\
               chain input {{ type filter hook input priority 0; ip saddr {set} drop; }}\n\
               chain output {{ type filter hook output priority 0; ip daddr {set} drop; }}\n\
             }}\n"
        );
        let file = std::env::temp_dir().join(format!("{ns}.nft"));
        std::fs::write(&file, script).expect("write nft rules");
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "-f",
            &file.to_string_lossy(),
        ])
        .expect("install drop rules");
    }

    /// Removes member `i`'s drop rules.
    pub fn heal(&self, i: usize) {
        let ns = &self.namespaces[i];
        run(&[
            "ip",
            "netns",
            "exec",
            ns,
            "nft",
            "delete",
            "table",
            "inet",
            "oxpartition",
        ])
        .expect("remove drop rules");
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for (i, ns) in self.namespaces.iter().enumerate() {
            // Deleting one end removes the pair at once (the namespace
            // itself may outlive `netns del` for a while).
            let _ = run(&["ip", "link", "del", &format!("oxr{}h{i}", self.subnet)]);
            let _ = run(&["ip", "netns", "del", ns]);
        }
        let _ = run(&["ip", "link", "del", &self.bridge]);
    }
}
