//! A linearizability checker for a key-value register (Wing & Gong's search
//! with Lowe's memoization, as Porcupine does), partitioned per key: a
//! history is linearizable iff each key's sub-history is.
//!
//! Operations carry their invocation and response times. An operation
//! whose outcome is unknown (error, timeout) has no response time: it may
//! take effect at any point after its invocation, or never (a read with an
//! unknown outcome constrains nothing and can be left out).

use std::collections::{BTreeMap, HashSet};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Input {
    Put(String),
    Get,
    /// Compare-and-swap: if the value is `expected`, set `new`.
    Cas {
        expected: String,
        new: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    Put,
    Get(Option<String>),
    Cas(bool),
    /// The client does not know what happened.
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub client: usize,
    pub key: String,
    pub input: Input,
    pub output: Output,
    /// Invocation and response, in any monotonic unit (ns since start).
    pub call: u64,
    /// `None`: the outcome is unknown.
    pub ret: Option<u64>,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ret = self
            .ret
            .map_or_else(|| "?".to_string(), |r| format!("{:.3}", r as f64 / 1e6));
        write!(
            f,
            "[{:>10.3} ms .. {:>10} ms] client {} {} {:?} -> {:?}",
            self.call as f64 / 1e6,
            ret,
            self.client,
            self.key,
            self.input,
            self.output
        )
    }
}

type State = Option<String>;

/// Applies `op` to `state`: `None` when the op's output is impossible there.
fn step(state: &State, op: &Op) -> Option<State> {
    match (&op.input, &op.output) {
        (Input::Put(v), Output::Put | Output::Unknown) => Some(Some(v.clone())),
        (Input::Get, Output::Get(seen)) => (seen == state).then(|| state.clone()),
        (Input::Get, Output::Unknown) => Some(state.clone()),
        (Input::Cas { expected, new }, out) => {
            let matches = state.as_deref() == Some(expected.as_str());
            match out {
                Output::Cas(true) if matches => Some(Some(new.clone())),
                Output::Cas(false) if !matches => Some(state.clone()),
                Output::Unknown if matches => Some(Some(new.clone())),
                Output::Unknown => Some(state.clone()),
                _ => None,
            }
        }
        _ => None,
    }
}

/// A key whose history cannot be linearized, with the operations that
/// show it.
#[derive(Debug)]
pub struct Violation {
    pub key: String,
    /// The operations of the key from the first one that could not be
    /// placed, with everything concurrent to them, in invocation order.
    pub ops: Vec<Op>,
    pub linearized: usize,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "key {:?} is not linearizable ({} operations placed); offending sub-history:",
            self.key, self.linearized
        )?;
        for op in &self.ops {
            writeln!(f, "  {op}")?;
        }
        Ok(())
    }
}

/// Checks a whole history; the first non-linearizable key is reported.
pub fn check(history: &[Op]) -> Result<(), Violation> {
    let mut by_key: BTreeMap<&str, Vec<Op>> = BTreeMap::new();
    for op in history {
        // Reads whose outcome is unknown constrain nothing.
        if op.input == Input::Get && op.output == Output::Unknown {
            continue;
        }
        by_key.entry(&op.key).or_default().push(op.clone());
    }
    for (key, ops) in by_key {
        check_key(key, ops)?;
    }
    Ok(())
}

#[derive(Clone, Copy)]
struct Event {
    op: usize,
    is_call: bool,
}

/// Wing & Gong over one key: the event list is a doubly linked list from
/// which a linearized op's call and return are lifted (and put back when
/// the search backtracks); seen (linearized set, state) pairs are cached.
fn check_key(key: &str, ops: Vec<Op>) -> Result<(), Violation> {
    let n = ops.len();
    let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * n);
    for (i, op) in ops.iter().enumerate() {
        events.push((op.call, true, i));
        events.push((op.ret.unwrap_or(u64::MAX), false, i));
    }
    // By time; at equal times calls first (the ops overlap).
    events.sort_by_key(|(t, is_call, i)| (*t, !*is_call, *i));
    let list: Vec<Event> = events
        .iter()
        .map(|(_, is_call, op)| Event {
            op: *op,
            is_call: *is_call,
        })
        .collect();
    let len = list.len();
    // Node 0 is the head sentinel, event k is node k + 1, node len + 1 the
    // tail sentinel.
    let end = len + 1;
    let mut next: Vec<usize> = (1..=end + 1).collect();
    let mut prev: Vec<usize> = (0..=end).map(|i| i.saturating_sub(1)).collect();
    next[end] = end;
    let mut ret_node = vec![0usize; n];
    for (k, ev) in list.iter().enumerate() {
        if !ev.is_call {
            ret_node[ev.op] = k + 1;
        }
    }

    let words = n.div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    let mut cache: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let mut state: State = None;
    let mut best = 0usize;
    let mut stuck_at = 0usize;
    let mut entry = next[0];

    let lift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = nx;
        prev[nx] = p;
    };
    let unlift = |next: &mut Vec<usize>, prev: &mut Vec<usize>, node: usize| {
        let (p, nx) = (prev[node], next[node]);
        next[p] = node;
        prev[nx] = node;
    };

    while next[0] != end {
        if entry != end && list[entry - 1].is_call {
            let op = list[entry - 1].op;
            let mut try_set = linearized.clone();
            try_set[op / 64] |= 1 << (op % 64);
            let moved = step(&state, &ops[op]);
            let fresh = match &moved {
                Some(new_state) => cache.insert((try_set.clone(), new_state.clone())),
                None => false,
            };
            if let (Some(new_state), true) = (moved, fresh) {
                stack.push((entry, state));
                state = new_state;
                linearized = try_set;
                let r = ret_node[op];
                lift(&mut next, &mut prev, entry);
                lift(&mut next, &mut prev, r);
                if stack.len() > best {
                    best = stack.len();
                }
                entry = next[0];
            } else {
                entry = next[entry];
            }
        } else {
            // A return (or the end): its op must have been linearized
            // before; undo the last choice.
            if entry != end && stack.len() >= best {
                stuck_at = list[entry - 1].op;
            }
            let Some((node, old_state)) = stack.pop() else {
                return Err(violation(key, &ops, stuck_at, best));
            };
            let op = list[node - 1].op;
            state = old_state;
            linearized[op / 64] &= !(1 << (op % 64));
            let r = ret_node[op];
            unlift(&mut next, &mut prev, r);
            unlift(&mut next, &mut prev, node);
            entry = next[node];
        }
    }
    Ok(())
}

/// The ops around `stuck`: everything whose interval overlaps the window
/// from the earliest op concurrent with it to its response.
fn violation(key: &str, ops: &[Op], stuck: usize, linearized: usize) -> Violation {
    let target = &ops[stuck];
    let end = target.ret.unwrap_or(u64::MAX);
    let start = ops
        .iter()
        .filter(|o| o.call <= end && o.ret.unwrap_or(u64::MAX) >= target.call)
        .map(|o| o.call)
        .min()
        .unwrap_or(target.call);
    let mut window: Vec<Op> = ops
        .iter()
        .filter(|o| o.call <= end && o.ret.unwrap_or(u64::MAX) >= start)
        .cloned()
        .collect();
    window.sort_by_key(|o| o.call);
    // Also the last completed write before the window: the value a read
    // should have seen.
    if let Some(before) = ops
        .iter()
        .filter(|o| o.ret.is_some_and(|r| r < start) && !matches!(o.input, Input::Get))
        .max_by_key(|o| o.ret)
    {
        window.insert(0, before.clone());
    }
    Violation {
        key: key.to_string(),
        ops: window,
        linearized,
    }
}
