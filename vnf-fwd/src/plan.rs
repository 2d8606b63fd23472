//! The forwarding plan: which port each port forwards to (l2fwd's pairing,
//! or `--portmap`), and which lcore polls which rx queue and sends on which
//! tx queue (l2fwd's lcore assignment, extended from ports to queues).
//!
//! Plain data from plain inputs: the caller passes the options' values and
//! the port and lcore ids the EAL reported. The poll loop's counters and the
//! application depend on these types; nothing here knows the command line.

use std::fmt::Display;

/// What the ports and lcores at hand cannot do for the plan asked for. Each
/// message is one line naming the bad value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// DPDK found no Ethernet device at all.
    #[error("no Ethernet ports: DPDK found none (check the EAL -a/--vdev options and the NIC's driver binding)")]
    NoPorts,
    /// The portmask selects a port DPDK does not have.
    #[error("invalid portmask {mask:#x}: port {port} is not available; possible ({possible:#x}), DPDK has ports {}", list(.available))]
    PortmaskNotAvailable {
        /// The portmask.
        mask: u32,
        /// The lowest selected port that does not exist.
        port: u16,
        /// The mask of all ports DPDK has.
        possible: u32,
        /// The port ids DPDK has.
        available: Vec<u16>,
    },
    /// Nothing is left to forward on.
    #[error("no enabled ports: portmask {mask:#x} selects none of the available ports ({})", list(.available))]
    NoEnabledPorts {
        /// The effective portmask (after `--portmap`, only the ports it names).
        mask: u32,
        /// The port ids DPDK has.
        available: Vec<u16>,
    },
    /// A `--portmap` port is outside the portmask.
    #[error("--portmap: port {port} is not enabled in port mask {mask:#x}")]
    PortNotEnabled {
        /// The port named by `--portmap`.
        port: u16,
        /// The portmask.
        mask: u32,
    },
    /// A `--portmap` port does not exist.
    #[error("--portmap: port {port} is not present on the board (DPDK has ports {})", list(.available))]
    PortNotPresent {
        /// The port named by `--portmap`.
        port: u16,
        /// The port ids DPDK has.
        available: Vec<u16>,
    },
    /// A port appears in two `--portmap` pairs, so its destination is ambiguous.
    #[error("--portmap: port {port} is used in other port pairs")]
    PortReused {
        /// The port named twice.
        port: u16,
    },
    /// The EAL gave fewer lcores than the rx queues need at `-q` queues each.
    #[error("not enough lcores: {ports} ports{} at {per_lcore} per lcore need {needed} lcores, EAL gave {} ({}); add lcores with -l/-c or raise -q", queues_per_port(*.rx_queues), .lcores.len(), list(.lcores))]
    NotEnoughLcores {
        /// Number of rx ports to poll.
        ports: usize,
        /// `--rxq`: rx queues per port.
        rx_queues: u16,
        /// `-q`.
        per_lcore: usize,
        /// Lcores needed.
        needed: usize,
        /// The lcore ids the EAL enabled.
        lcores: Vec<u32>,
    },
    /// A port receives from more lanes than it has tx queues; lanes never
    /// share a tx queue, so no two lcores ever send on the same one.
    #[error("--txq {tx_queues} is too few: port {port} is sent to from {lanes} rx queues and each needs a tx queue of its own; set --txq {lanes}")]
    TooFewTxQueues {
        /// The destination port.
        port: u16,
        /// Lanes (rx port, rx queue) that send to it.
        lanes: usize,
        /// `--txq`.
        tx_queues: u16,
    },
    /// A count of 0 (lcores' queues, rx or tx queues): only hand-built
    /// options get here, the parser refuses 0.
    #[error("{option} must be at least 1")]
    Zero {
        /// The option the count comes from.
        option: &'static str,
    },
}

/// One forwarding direction: packets received on `rx` are sent on `tx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PortPair {
    /// Port the packets come in on.
    pub rx: u16,
    /// Port they leave by.
    pub tx: u16,
}

/// The forwarding directions of all enabled ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PairPlan {
    /// One direction per enabled port, in ascending `rx` order.
    pub pairs: Vec<PortPair>,
    /// The port left without a partner by an odd port count; it forwards to
    /// itself and the caller prints l2fwd's "odd number of ports" notice.
    pub odd_port: Option<u16>,
}

/// One lane: frames from queue `rx_queue` of `pair.rx` go out of queue
/// `tx_queue` of `pair.tx`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LanePlan {
    /// The ports.
    pub pair: PortPair,
    /// The rx queue of `pair.rx`.
    pub rx_queue: u16,
    /// The tx queue of `pair.tx`, used by this lane only.
    pub tx_queue: u16,
}

/// The rx queues one lcore polls.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LcorePlan {
    /// The lcore id.
    pub lcore: u32,
    /// Its lanes, in ascending (rx queue, rx port) order.
    pub lanes: Vec<LanePlan>,
}

/// Computes the forwarding directions for the enabled ports, exactly as l2fwd:
/// `available` = port ids DPDK has (ascending, as `RTE_ETH_FOREACH_DEV` gives them).
/// Without portmap: enabled ports (portmask & available) pair consecutively (0,1)(2,3)...;
/// an odd count makes the last port forward to itself (`odd_port`, so the caller prints l2fwd's notice).
/// With portmap: each pair's ports must be in the portmask, present, and not used in two pairs;
/// the enabled set becomes the ports in the portmap, so portmask bits outside it are ignored (as l2fwd).
/// Result directions in ascending rx port order.
///
/// l2fwd checks the portmask against the port *count* (`(1 << nb_ports) - 1`);
/// this checks it against the ids actually present, which is the same when ids
/// run from 0 without gaps and right when they do not.
///
/// # Errors
///
/// [`Error::NoPorts`], [`Error::PortmaskNotAvailable`] and [`Error::NoEnabledPorts`];
/// with a portmap, [`Error::PortNotEnabled`], [`Error::PortNotPresent`] and [`Error::PortReused`].
pub fn port_pairs(
    portmask: u32,
    portmap: Option<&[(u16, u16)]>,
    available: &[u16],
) -> Result<PairPlan, Error> {
    let mut available = available.to_vec();
    available.sort_unstable();
    available.dedup();
    if available.is_empty() {
        return Err(Error::NoPorts);
    }
    let mut plan = match portmap {
        Some(map) => PairPlan {
            pairs: mapped_pairs(map, portmask, &available)?,
            odd_port: None,
        },
        None => consecutive_pairs(portmask, &available)?,
    };
    plan.pairs.sort_by_key(|p| p.rx);
    Ok(plan)
}

/// The mask bit of `port`, or 0 for ids the 32-bit mask cannot hold.
fn bit(port: u16) -> u32 {
    1u32.checked_shl(u32::from(port)).unwrap_or(0)
}

/// l2fwd's `check_port_pair_config` and its destination table from `--portmap`.
fn mapped_pairs(map: &[(u16, u16)], mask: u32, available: &[u16]) -> Result<Vec<PortPair>, Error> {
    let mut used = 0u32;
    let mut pairs = Vec::with_capacity(map.len() * 2);
    for &(a, b) in map {
        for port in [a, b] {
            if mask & bit(port) == 0 {
                return Err(Error::PortNotEnabled { port, mask });
            }
            if !available.contains(&port) {
                return Err(Error::PortNotPresent {
                    port,
                    available: available.to_vec(),
                });
            }
        }
        // l2fwd names the pair's second port whichever was reused; name the right one.
        // A pair (a,a) is allowed, as in l2fwd: the port forwards to itself.
        if let Some(port) = [a, b].into_iter().find(|&p| used & bit(p) != 0) {
            return Err(Error::PortReused { port });
        }
        used |= bit(a) | bit(b);
        pairs.push(PortPair { rx: a, tx: b });
        if a != b {
            pairs.push(PortPair { rx: b, tx: a });
        }
    }
    if pairs.is_empty() {
        return Err(Error::NoEnabledPorts {
            mask: used,
            available: available.to_vec(),
        });
    }
    Ok(pairs)
}

/// l2fwd's default pairing: enabled ports in ascending order, two by two.
fn consecutive_pairs(mask: u32, available: &[u16]) -> Result<PairPlan, Error> {
    let possible = available.iter().fold(0, |m, &p| m | bit(p));
    let missing = mask & !possible;
    if missing != 0 {
        return Err(Error::PortmaskNotAvailable {
            mask,
            // trailing_zeros of a non-zero u32 is below 32.
            port: missing.trailing_zeros() as u16,
            possible,
            available: available.to_vec(),
        });
    }
    let enabled: Vec<u16> = available
        .iter()
        .copied()
        .filter(|&p| mask & bit(p) != 0)
        .collect();
    if enabled.is_empty() {
        return Err(Error::NoEnabledPorts {
            mask,
            available: available.to_vec(),
        });
    }
    let mut pairs = Vec::with_capacity(enabled.len());
    let mut twos = enabled.chunks_exact(2);
    for two in &mut twos {
        if let [a, b] = *two {
            pairs.push(PortPair { rx: a, tx: b });
            pairs.push(PortPair { rx: b, tx: a });
        }
    }
    let odd_port = twos.remainder().first().copied();
    if let Some(last) = odd_port {
        pairs.push(PortPair { rx: last, tx: last });
    }
    Ok(PairPlan { pairs, odd_port })
}

/// Which lcore polls which rx queues: l2fwd's rule with (port, rx queue)
/// as the unit. The units are walked queue by queue, each queue in ascending
/// rx port order (testpmd's stream order: `(p0,q0) (p1,q0) (p0,q1) ...`), so
/// that lcores sharing the load of several queues each get a share of every
/// port; each goes to the lowest enabled lcore id (from `lcores`, ascending,
/// includes the main lcore) that has fewer than `per_lcore` units, moving on
/// once one is full. With one rx queue this is l2fwd's assignment.
/// Lcores with nothing to poll are left out of the result.
///
/// Each lane gets a tx queue of its destination port that no other lane
/// uses: queue k for the k-th lane sending to that port. Lanes of one lcore
/// could share one, but a tx queue is owned by one lane (the safe layer hands
/// each out once), and distinct queues are what keeps lcores from ever
/// sending on the same queue.
///
/// # Errors
///
/// [`Error::NotEnoughLcores`] when the lcores run out (l2fwd's "Not enough
/// cores"), [`Error::TooFewTxQueues`] when a port is sent to from more rx
/// queues than `tx_queues`, and [`Error::Zero`] for a `per_lcore`,
/// `rx_queues` or `tx_queues` of 0.
pub fn assign_lcores(
    pairs: &[PortPair],
    lcores: &[u32],
    per_lcore: usize,
    rx_queues: u16,
    tx_queues: u16,
) -> Result<Vec<LcorePlan>, Error> {
    // Only reachable with hand-built options; the parser refuses 0.
    if per_lcore == 0 {
        return Err(Error::Zero { option: "-q" });
    }
    if rx_queues == 0 {
        return Err(Error::Zero { option: "--rxq" });
    }
    if tx_queues == 0 {
        return Err(Error::Zero { option: "--txq" });
    }
    let mut ids = lcores.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut by_rx = pairs.to_vec();
    by_rx.sort_by_key(|p| p.rx);
    // Queue by queue, each in rx port order; the k-th lane sending to a port
    // gets its tx queue k.
    let mut units = Vec::with_capacity(by_rx.len() * usize::from(rx_queues));
    let mut sent_to: Vec<(u16, usize)> = Vec::new(); // (tx port, lanes so far)
    for rx_queue in 0..rx_queues {
        for &pair in &by_rx {
            let k = match sent_to.iter_mut().find(|(port, _)| *port == pair.tx) {
                Some((_, n)) => {
                    *n += 1;
                    *n - 1
                }
                None => {
                    sent_to.push((pair.tx, 1));
                    0
                }
            };
            units.push((pair, rx_queue, k));
        }
    }
    if let Some(&(port, lanes)) = sent_to.iter().find(|(_, n)| *n > usize::from(tx_queues)) {
        return Err(Error::TooFewTxQueues {
            port,
            lanes,
            tx_queues,
        });
    }
    let lanes: Vec<LanePlan> = units
        .into_iter()
        .map(|(pair, rx_queue, k)| LanePlan {
            pair,
            rx_queue,
            // k < tx_queues (checked above), so it fits.
            tx_queue: k as u16,
        })
        .collect();
    // Filling each lcore before the next is the same as cutting the lane list
    // into runs of `per_lcore`.
    let needed = lanes.len().div_ceil(per_lcore);
    if needed > ids.len() {
        return Err(Error::NotEnoughLcores {
            ports: by_rx.len(),
            rx_queues,
            per_lcore,
            needed,
            lcores: ids,
        });
    }
    Ok(ids
        .into_iter()
        .zip(lanes.chunks(per_lcore))
        .map(|(lcore, run)| LcorePlan {
            lcore,
            lanes: run.to_vec(),
        })
        .collect())
}

/// " x N rx queues" for the lcore error when there is more than one.
fn queues_per_port(rx_queues: u16) -> String {
    if rx_queues > 1 {
        format!(" x {rx_queues} rx queues")
    } else {
        String::new()
    }
}

/// `items` as "a, b, c", or "none".
fn list<T: Display>(items: &[T]) -> String {
    if items.is_empty() {
        return "none".to_owned();
    }
    items
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_one_line(e: &Error) {
        let text = e.to_string();
        assert!(
            !text.is_empty() && !text.contains('\n'),
            "not one line: {text:?}"
        );
    }

    /// Asserts `e`'s message contains every word of `words`.
    fn assert_says(e: &Error, words: &[&str]) {
        let text = e.to_string();
        for w in words {
            assert!(text.contains(w), "{text:?} lacks {w:?}");
        }
    }

    /// The pairs of `-p mask` and `--portmap map` over the ports `available`.
    fn pairs(
        mask: u32,
        map: Option<Vec<(u16, u16)>>,
        available: &[u16],
    ) -> Result<PairPlan, Error> {
        port_pairs(mask, map.as_deref(), available)
    }

    fn pp(rx: u16, tx: u16) -> PortPair {
        PortPair { rx, tx }
    }

    // ---- port_pairs ----

    #[test]
    fn pairs_two_ports() {
        let plan = pairs(0x3, None, &[0, 1]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 1), pp(1, 0)]);
        assert_eq!(plan.odd_port, None);
    }

    #[test]
    fn pairs_one_port_forwards_to_itself() {
        let plan = pairs(0x1, None, &[0, 1]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 0)]);
        assert_eq!(plan.odd_port, Some(0));
    }

    #[test]
    fn pairs_three_ports_last_is_odd() {
        let plan = pairs(0x7, None, &[0, 1, 2]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 1), pp(1, 0), pp(2, 2)]);
        assert_eq!(plan.odd_port, Some(2));
    }

    #[test]
    fn pairs_four_ports() {
        let plan = pairs(0xf, None, &[0, 1, 2, 3]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 1), pp(1, 0), pp(2, 3), pp(3, 2)]);
        assert_eq!(plan.odd_port, None);
    }

    #[test]
    fn pairs_skip_ports_outside_the_mask() {
        // Ports 1 and 3 of 0..4: they pair with each other.
        let plan = pairs(0xa, None, &[0, 1, 2, 3]).unwrap();
        assert_eq!(plan.pairs, vec![pp(1, 3), pp(3, 1)]);
    }

    #[test]
    fn pairs_with_gaps_in_port_ids() {
        let plan = pairs(0x25, None, &[0, 2, 5]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 2), pp(2, 0), pp(5, 5)]);
        assert_eq!(plan.odd_port, Some(5));
        let plan = pairs(0x24, None, &[5, 2, 0]).unwrap();
        assert_eq!(plan.pairs, vec![pp(2, 5), pp(5, 2)]);
    }

    #[test]
    fn portmask_naming_a_missing_port() {
        let e = pairs(0x7, None, &[0, 1]).unwrap_err();
        assert_eq!(
            e,
            Error::PortmaskNotAvailable {
                mask: 0x7,
                port: 2,
                possible: 0x3,
                available: vec![0, 1]
            }
        );
        assert_one_line(&e);
        assert_says(&e, &["invalid portmask 0x7", "port 2", "possible (0x3)"]);
        // A gap: port 1 does not exist.
        let e = pairs(0x3, None, &[0, 2]).unwrap_err();
        assert!(matches!(
            e,
            Error::PortmaskNotAvailable {
                port: 1,
                possible: 0x5,
                ..
            }
        ));
    }

    #[test]
    fn no_ports_at_all() {
        let e = pairs(0x3, None, &[]).unwrap_err();
        assert_eq!(e, Error::NoPorts);
        assert_one_line(&e);
        assert_says(&e, &["no Ethernet ports"]);
    }

    #[test]
    fn no_enabled_ports() {
        // Only hand-built options can get here: the parser refuses a zero mask and an empty map.
        let e = pairs(0, None, &[0, 1]).unwrap_err();
        assert_one_line(&e);
        assert_says(&e, &["no enabled ports", "0x0", "0, 1"]);
        let e = pairs(0x3, Some(vec![]), &[0, 1]).unwrap_err();
        assert!(matches!(e, Error::NoEnabledPorts { mask: 0, .. }));
    }

    #[test]
    fn portmap_pairs() {
        let plan = pairs(0xf, Some(vec![(0, 3), (1, 2)]), &[0, 1, 2, 3]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 3), pp(1, 2), pp(2, 1), pp(3, 0)]);
        assert_eq!(plan.odd_port, None);
    }

    #[test]
    fn portmap_narrows_the_portmask() {
        // As l2fwd: mask bits outside the map, even of absent ports, do not matter.
        let plan = pairs(0xff, Some(vec![(1, 0)]), &[0, 1, 2]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 1), pp(1, 0)]);
    }

    #[test]
    fn portmap_self_pair() {
        let plan = pairs(0x3, Some(vec![(1, 1), (0, 0)]), &[0, 1]).unwrap();
        assert_eq!(plan.pairs, vec![pp(0, 0), pp(1, 1)]);
    }

    #[test]
    fn portmap_port_used_twice() {
        let avail = [0, 1, 2, 3];
        for (map, port) in [
            (vec![(0, 1), (0, 2)], 0),
            (vec![(0, 1), (2, 1)], 1),
            (vec![(0, 1), (2, 3), (3, 2)], 3),
        ] {
            let e = pairs(0xf, Some(map), &avail).unwrap_err();
            assert_eq!(e, Error::PortReused { port });
            assert_one_line(&e);
            assert_says(&e, &[&format!("port {port} is used in other port pairs")]);
        }
    }

    #[test]
    fn portmap_port_not_enabled() {
        let e = pairs(0x3, Some(vec![(0, 2)]), &[0, 1, 2]).unwrap_err();
        assert_eq!(e, Error::PortNotEnabled { port: 2, mask: 0x3 });
        assert_one_line(&e);
        assert_says(&e, &["port 2 is not enabled in port mask 0x3"]);
        // Hand-built ids beyond the mask are simply not enabled (no shift overflow).
        let e = pairs(0x3, Some(vec![(0, 40)]), &[0, 1]).unwrap_err();
        assert_eq!(
            e,
            Error::PortNotEnabled {
                port: 40,
                mask: 0x3
            }
        );
    }

    #[test]
    fn portmap_port_not_present() {
        let e = pairs(0xf, Some(vec![(0, 3)]), &[0, 1]).unwrap_err();
        assert_eq!(
            e,
            Error::PortNotPresent {
                port: 3,
                available: vec![0, 1]
            }
        );
        assert_one_line(&e);
        assert_says(&e, &["port 3 is not present on the board", "0, 1"]);
    }

    // ---- assign_lcores ----

    fn two_ports() -> Vec<PortPair> {
        vec![pp(0, 1), pp(1, 0)]
    }

    /// One rx and one tx queue per port: l2fwd's assignment.
    fn assign(
        pairs: &[PortPair],
        lcores: &[u32],
        per_lcore: usize,
    ) -> Result<Vec<LcorePlan>, Error> {
        assign_lcores(pairs, lcores, per_lcore, 1, 1)
    }

    fn lane(pair: PortPair, rx_queue: u16, tx_queue: u16) -> LanePlan {
        LanePlan {
            pair,
            rx_queue,
            tx_queue,
        }
    }

    /// An lcore polling queue 0 of each pair's rx port.
    fn lp(lcore: u32, pairs: &[PortPair]) -> LcorePlan {
        LcorePlan {
            lcore,
            lanes: pairs.iter().map(|&p| lane(p, 0, 0)).collect(),
        }
    }

    #[test]
    fn lcores_one_port_each_from_the_lowest() {
        // The documented `-c 0xE0` experiment: lcores 5 (main), 6, 7.
        let plan = assign(&two_ports(), &[5, 6, 7], 1).unwrap();
        assert_eq!(plan, vec![lp(5, &[pp(0, 1)]), lp(6, &[pp(1, 0)])]);
        let plan = assign(&two_ports(), &[0, 1], 1).unwrap();
        assert_eq!(plan, vec![lp(0, &[pp(0, 1)]), lp(1, &[pp(1, 0)])]);
    }

    #[test]
    fn lcores_two_ports_each() {
        let plan = assign(&two_ports(), &[5, 6, 7], 2).unwrap();
        assert_eq!(plan, vec![lp(5, &two_ports())]);
        let four = [pp(0, 1), pp(1, 0), pp(2, 3), pp(3, 2)];
        let plan = assign(&four, &[0, 1], 2).unwrap();
        assert_eq!(plan, vec![lp(0, &four[..2]), lp(1, &four[2..])]);
        let three = [pp(0, 1), pp(1, 0), pp(2, 2)];
        let plan = assign(&three, &[0, 1], 2).unwrap();
        assert_eq!(plan, vec![lp(0, &three[..2]), lp(1, &three[2..])]);
    }

    #[test]
    fn lcores_in_id_and_port_order_whatever_the_input_order() {
        let plan = assign(&[pp(1, 0), pp(0, 1)], &[7, 5, 6, 5], 1).unwrap();
        assert_eq!(plan, vec![lp(5, &[pp(0, 1)]), lp(6, &[pp(1, 0)])]);
    }

    #[test]
    fn not_enough_lcores() {
        let three = [pp(0, 1), pp(1, 0), pp(2, 2)];
        let e = assign(&three, &[0, 1], 1).unwrap_err();
        assert_one_line(&e);
        assert!(e.to_string().starts_with(
            "not enough lcores: 3 ports at 1 per lcore need 3 lcores, EAL gave 2 (0, 1)"
        ));
        let e = assign(&[pp(0, 0)], &[], 1).unwrap_err();
        assert_says(&e, &["need 1 lcores", "EAL gave 0 (none)"]);
        let four = [pp(0, 1), pp(1, 0), pp(2, 3), pp(3, 2)];
        assert!(assign(&four, &[5, 6, 7], 1).is_err());
        assert!(assign(&four, &[5, 6], 2).is_ok());
    }

    #[test]
    fn lcores_edge_cases() {
        assert_eq!(assign(&[], &[0], 1), Ok(vec![]));
        let e = assign(&two_ports(), &[0, 1], 0).unwrap_err();
        assert!(matches!(e, Error::Zero { option: "-q" }));
        let e = assign_lcores(&two_ports(), &[0, 1], 1, 0, 1).unwrap_err();
        assert!(matches!(e, Error::Zero { option: "--rxq" }));
        let e = assign_lcores(&two_ports(), &[0, 1], 1, 1, 0).unwrap_err();
        assert!(matches!(e, Error::Zero { option: "--txq" }));
    }

    #[test]
    fn queues_go_to_lcores_queue_by_queue() {
        // Two ports, two queues, two lcores at -q 2: each lcore polls one
        // queue of both ports and sends on its own tx queue of each.
        let plan = assign_lcores(&two_ports(), &[0, 1], 2, 2, 2).unwrap();
        let (a, b) = (pp(0, 1), pp(1, 0));
        assert_eq!(
            plan,
            vec![
                LcorePlan {
                    lcore: 0,
                    lanes: vec![lane(a, 0, 0), lane(b, 0, 0)]
                },
                LcorePlan {
                    lcore: 1,
                    lanes: vec![lane(a, 1, 1), lane(b, 1, 1)]
                },
            ]
        );
        // -q 1: one queue per lcore, four lcores.
        let plan = assign_lcores(&two_ports(), &[3, 2, 1, 0], 1, 2, 2).unwrap();
        let lanes: Vec<(u32, LanePlan)> = plan
            .iter()
            .flat_map(|l| l.lanes.iter().map(|&x| (l.lcore, x)))
            .collect();
        assert_eq!(
            lanes,
            vec![
                (0, lane(a, 0, 0)),
                (1, lane(b, 0, 0)),
                (2, lane(a, 1, 1)),
                (3, lane(b, 1, 1)),
            ]
        );
    }

    #[test]
    fn one_lcore_polls_every_queue_on_distinct_tx_queues() {
        let plan = assign_lcores(&two_ports(), &[0, 1], 4, 2, 2).unwrap();
        let (a, b) = (pp(0, 1), pp(1, 0));
        assert_eq!(
            plan,
            vec![LcorePlan {
                lcore: 0,
                lanes: vec![lane(a, 0, 0), lane(b, 0, 0), lane(a, 1, 1), lane(b, 1, 1)]
            }]
        );
        // One port forwarding to itself over three queues, on three lcores.
        let plan = assign_lcores(&[pp(0, 0)], &[0, 1, 2], 1, 3, 4).unwrap();
        let tx: Vec<(u32, u16, u16)> = plan
            .iter()
            .map(|l| (l.lcore, l.lanes[0].rx_queue, l.lanes[0].tx_queue))
            .collect();
        assert_eq!(tx, vec![(0, 0, 0), (1, 1, 1), (2, 2, 2)]);
    }

    #[test]
    fn tx_queues_are_never_shared() {
        for (pairs, lcores, per_lcore, rxq, txq) in [
            (two_ports(), vec![0, 1], 2, 2, 2),
            (two_ports(), vec![0], 8, 4, 4),
            (
                vec![pp(0, 1), pp(1, 0), pp(2, 2)],
                vec![0, 1, 2, 3],
                3,
                4,
                5,
            ),
        ] {
            let plan = assign_lcores(&pairs, &lcores, per_lcore, rxq, txq).unwrap();
            let mut used: Vec<(u16, u16)> = plan
                .iter()
                .flat_map(|l| l.lanes.iter().map(|x| (x.pair.tx, x.tx_queue)))
                .collect();
            let n = used.len();
            assert_eq!(n, pairs.len() * usize::from(rxq));
            assert!(used.iter().all(|&(_, q)| q < txq));
            used.sort_unstable();
            used.dedup();
            assert_eq!(used.len(), n, "{plan:?}");
        }
    }

    #[test]
    fn too_few_tx_queues() {
        let e = assign_lcores(&two_ports(), &[0, 1], 2, 2, 1).unwrap_err();
        assert_eq!(
            e,
            Error::TooFewTxQueues {
                port: 1,
                lanes: 2,
                tx_queues: 1
            }
        );
        assert_one_line(&e);
        assert_says(
            &e,
            &["--txq 1 is too few", "port 1", "2 rx queues", "set --txq 2"],
        );
    }

    #[test]
    fn not_enough_lcores_for_the_queues() {
        let e = assign_lcores(&two_ports(), &[0, 1], 1, 2, 2).unwrap_err();
        assert_one_line(&e);
        assert!(
            e.to_string().starts_with(
                "not enough lcores: 2 ports x 2 rx queues at 1 per lcore need 4 lcores, EAL gave 2 (0, 1)"
            ),
            "{e}"
        );
    }
}
