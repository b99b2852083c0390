//! One explorer run: a [`Setup`] and its [`Action`]s replayed on the
//! simulator's [`World`], and the [`View`] the page draws of it.
//!
//! Replay is the only way a session changes, so two sessions with the same
//! setup and actions are the same run, step for step: the page keeps no
//! state, the URL carries it.

use super::{encode_actions, Action, ExploreError, Query, Setup, DELAY_TICKS, MAX_STEPS};
use crate::core::{NodeId, Pos};
use crate::middleware::Defence;
use crate::sim::invariants::Violation;
use crate::sim::world::Flying;
use crate::sim::{Role, SimConfig, World};
use serde::Serialize;

/// Positions the page's sequence chart draws messages about.
const CHART_POSITIONS: Pos = 64;

/// Rows of the chart the page shows: the latest ones.
const CHART_ROWS: usize = 36;

/// Lines of the step log the page shows: the latest ones.
const TRACE_LINES: usize = 40;

/// The simulator configuration of a setup: the simulator's default world
/// (delays of 1 to 3 ticks, no loss), traced and charted.
pub fn sim_config(setup: &Setup) -> SimConfig {
    SimConfig {
        nodes: setup.nodes,
        attack: setup.attack,
        attacker: setup.attacker,
        bft: setup.bft,
        middleware: !setup.defences.is_empty(),
        defences: Some(setup.defences.clone()),
        trace: true,
        chart: Some(0..CHART_POSITIONS),
        ..SimConfig::default()
    }
}

/// What "run until" waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Until {
    /// An honest node commits something.
    Commit,
    /// An honest node flags someone.
    Flag,
    /// An invariant breaks.
    Violation,
}

/// A setup, and the world its actions made.
pub struct Session {
    setup: Setup,
    world: World,
    actions: Vec<Action>,
    /// Single steps taken so far (bounded by [`MAX_STEPS`]).
    spent: u64,
}

/// What "run until" counts: honest commits, accusations, a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Marks {
    commits: usize,
    flags: usize,
    broken: bool,
}

impl Session {
    /// A fresh run of `setup`.
    pub fn start(setup: &Setup) -> Result<Session, ExploreError> {
        let cfg = sim_config(setup);
        cfg.validate()?;
        let mut world = World::new(&cfg, setup.seed);
        world.keep_notes();
        Ok(Session {
            setup: setup.clone(),
            world,
            actions: Vec::new(),
            spent: 0,
        })
    }

    /// `setup` with `actions` applied in order: the run a URL names.
    pub fn replay(setup: &Setup, actions: &[Action]) -> Result<Session, ExploreError> {
        let mut s = Session::start(setup)?;
        for a in actions {
            s.apply(a.clone())?;
        }
        Ok(s)
    }

    /// The run a query names: a lesson opened afresh when it names one
    /// and no actions, else its setup and actions replayed.
    pub fn from_query(q: &Query) -> Result<Session, ExploreError> {
        match (&q.lesson, &q.a) {
            (Some(name), None) => super::lessons::open(name),
            _ => Session::replay(&q.setup()?, &q.actions()?),
        }
    }

    pub fn setup(&self) -> &Setup {
        &self.setup
    }

    pub fn world(&self) -> &World {
        &self.world
    }

    pub fn actions(&self) -> &[Action] {
        &self.actions
    }

    /// This run's query: what the page's URL says.
    pub fn query(&self) -> Query {
        Query::of(&self.setup, &self.actions)
    }

    fn spend(&mut self, steps: u64) -> Result<(), ExploreError> {
        self.spent = self.spent.saturating_add(steps);
        match self.spent <= MAX_STEPS {
            true => Ok(()),
            false => Err(ExploreError::TooManySteps),
        }
    }

    fn member(&self, member: usize) -> Result<usize, ExploreError> {
        let members = self.world.members();
        match member < members {
            true => Ok(member),
            false => Err(ExploreError::NoSuchMember {
                index: self.actions.len(),
                member,
                members,
            }),
        }
    }

    /// Apply one action; a wrong one (a packet not in flight, a member
    /// that does not exist) changes nothing and says why.
    pub fn apply(&mut self, a: Action) -> Result<(), ExploreError> {
        let index = self.actions.len();
        let found = |ok: bool, id: u64| match ok {
            true => Ok(()),
            false => Err(ExploreError::NoSuchPacket { index, id }),
        };
        match &a {
            Action::Next(k) => {
                self.spend(*k)?;
                (0..*k).for_each(|_| self.world.next());
            }
            Action::Auto(k) => {
                self.spend(*k)?;
                (0..*k).for_each(|_| self.world.tick());
            }
            Action::Tick => {
                self.spend(1)?;
                self.world.tick_only();
            }
            Action::Deliver(id) => found(self.world.deliver_packet(*id), *id)?,
            Action::Lose(id) => found(self.world.lose_packet(*id), *id)?,
            Action::Duplicate(id) => found(self.world.duplicate_packet(*id), *id)?,
            Action::Delay(id) => found(self.world.delay_packet(*id, DELAY_TICKS), *id)?,
            Action::Crash(m) => self.world.crash(self.member(*m)?),
            Action::Restart(m) => self.world.restart(self.member(*m)?),
            Action::Cut(x, y) => {
                let (x, y) = (self.member(*x)?, self.member(*y)?);
                self.world.cut(x, y);
            }
            Action::Heal => self.world.heal(),
            Action::Request(m, v) => self.world.request(self.member(*m)?, v.clone()),
            Action::Ask(v) => self.world.ask(v.clone()),
            Action::Defences(d) => {
                if self.setup.bft {
                    return Err(ExploreError::BftSwitch);
                }
                self.world.set_defences(d.clone());
            }
        }
        match (self.actions.last_mut(), &a) {
            (Some(Action::Next(k)), Action::Next(j)) => *k += j,
            _ => self.actions.push(a),
        }
        Ok(())
    }

    fn marks(&self) -> Marks {
        Marks {
            commits: self.world.honest_logs().values().map(|l| l.len()).sum(),
            flags: self.world.accusations().len(),
            broken: self.world.violation().is_some(),
        }
    }

    /// Take single steps until `until` happens, at most `max` of them;
    /// they are recorded as one [`Action::Next`]. Whether it happened.
    pub fn run_until(&mut self, until: Until, max: u64) -> Result<bool, ExploreError> {
        let before = self.marks();
        let max = max.min(MAX_STEPS.saturating_sub(self.spent));
        let mut taken = 0;
        let mut reached = false;
        while taken < max && !reached {
            self.world.next();
            taken += 1;
            let now = self.marks();
            reached = match until {
                Until::Commit => now.commits > before.commits,
                Until::Flag => now.flags > before.flags,
                Until::Violation => now.broken && !before.broken,
            };
        }
        if taken > 0 {
            self.spent += taken;
            match self.actions.last_mut() {
                Some(Action::Next(k)) => *k += taken,
                _ => self.actions.push(Action::Next(taken)),
            }
        }
        Ok(reached)
    }

    /// What the page shows of this run now.
    pub fn view(&self) -> View {
        View::of(self)
    }
}

/// An action a learner could take now, chosen by `roll` (for the
/// property test and the bench): mostly one the run takes, now and then one
/// it refuses (a packet no longer in flight).
pub fn wander(s: &Session, r: u64) -> Action {
    let flying = s.world().flying();
    let members = s.world().members();
    let id = |k: u64| {
        flying
            .get((k as usize) % flying.len().max(1))
            .map_or(k, |f| f.id)
    };
    let m = (r >> 8) as usize % members;
    match r % 13 {
        0..=3 => Action::Next(1 + (r >> 4) % 5),
        4 => Action::Tick,
        5 | 6 => Action::Deliver(id(r >> 4)),
        7 => Action::Lose(id(r >> 4)),
        8 => Action::Duplicate(id(r >> 4)),
        9 => Action::Delay(id(r >> 4)),
        10 => match s.world().is_up(m) {
            true => Action::Crash(m),
            false => Action::Restart(m),
        },
        11 => Action::Request(m, format!("v{}", r % 100).into()),
        _ => Action::Defences(crate::cluster::Defences::of(
            Defence::ALL
                .into_iter()
                .filter(|d| (r >> (*d as u64 + 3)) & 1 == 1),
        )),
    }
}

/// What the page draws: every node, the packets in flight, the invariants,
/// the chart so far, and how to get back here.
#[derive(Clone, Debug, Serialize)]
pub struct View {
    /// The URL query of this very state.
    pub query: String,
    pub setup: SetupView,
    pub now: u64,
    /// Actions taken (consecutive single steps count as one).
    pub actions: usize,
    /// The actions, encoded as the query carries them.
    pub codes: String,
    pub members: Vec<MemberView>,
    pub flying: Vec<Flying>,
    pub invariants: InvariantsView,
    pub violation: Option<ViolationView>,
    /// Nodes an honest node flagged.
    pub detected: Vec<NodeId>,
    /// Cut links, as member pairs.
    pub cuts: Vec<(usize, usize)>,
    /// The latest lines of the step log.
    pub trace: Vec<String>,
    /// The latest rows of the sequence chart, drawn by the demo's renderer.
    pub chart_svg: String,
    /// The command that prints this run in a terminal.
    pub command: String,
    /// The `paxos sim` command of the whole run, when this is the start of
    /// one ([`super::lessons::sim_command`]).
    pub sim_command: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SetupView {
    pub nodes: usize,
    pub bft: bool,
    pub attack: Option<String>,
    /// What the attacker does, in a line.
    pub attack_what: Option<String>,
    pub attacker: Option<NodeId>,
    pub seed: u64,
    /// Every defence, and whether it runs now.
    pub defences: Vec<DefenceView>,
}

#[derive(Clone, Debug, Serialize)]
pub struct DefenceView {
    pub name: &'static str,
    pub answers: &'static str,
    pub what: &'static str,
    pub on: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct MemberView {
    pub member: usize,
    pub id: NodeId,
    /// `honest`, `attacker` or `twin`.
    pub role: &'static str,
    pub up: bool,
    /// `ballot 3.1 from position 0`, while it leads.
    pub leads: Option<String>,
    /// The promise that covers every position from one on.
    pub promised_from: Option<String>,
    /// Per position not yet committed: what it promised and accepted.
    pub slots: Vec<SlotView>,
    /// Its committed log.
    pub log: Vec<(Pos, String)>,
    /// Whom it flagged, and why.
    pub flagged: Vec<(NodeId, String)>,
    /// Its latest events.
    pub notes: Vec<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct SlotView {
    pub pos: Pos,
    pub promised: String,
    pub accepted: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct InvariantsView {
    pub agreement: bool,
    pub validity: bool,
    pub stability: bool,
}

#[derive(Clone, Debug, Serialize)]
pub struct ViolationView {
    /// The banner's sentence.
    pub text: String,
    /// `agreement`, `validity` or `stability`.
    pub kind: &'static str,
    pub pos: Pos,
    /// The values involved (two for agreement).
    pub values: Vec<String>,
    /// The packet whose delivery broke it.
    pub cause: Option<String>,
    pub tick: u64,
}

fn violation_view(f: &crate::sim::Found) -> ViolationView {
    let (kind, pos, values) = match &f.violation {
        Violation::Agreement { pos, first, then } => (
            "agreement",
            *pos,
            vec![first.1.to_string(), then.1.to_string()],
        ),
        Violation::Validity { pos, value, .. } => ("validity", *pos, vec![value.to_string()]),
        Violation::Stability {
            pos, before, after, ..
        } => {
            let mut v = vec![before.to_string()];
            v.extend(after.as_ref().map(ToString::to_string));
            ("stability", *pos, v)
        }
    };
    ViolationView {
        text: f.violation.to_string(),
        kind,
        pos,
        values,
        cause: f.cause.clone(),
        tick: f.tick,
    }
}

fn member_view(s: &Session, m: usize) -> MemberView {
    let w = &s.world;
    let id = w.id_of(m);
    let durable = w.durable(m);
    let role = match w.role(m) {
        Role::Honest => "honest",
        Role::Attacker => "attacker",
        Role::Twin => "twin",
    };
    let honest = role == "honest";
    let slots = durable
        .acceptor
        .iter()
        .filter(|_| honest)
        .map(|(pos, a)| SlotView {
            pos: *pos,
            promised: a.promised.to_string(),
            accepted: a.accepted.as_ref().map(|(b, v)| format!("'{v}' in {b}")),
        })
        .collect();
    MemberView {
        member: m,
        id,
        role,
        up: w.is_up(m),
        leads: w
            .leading(m)
            .map(|(pos, b)| format!("ballot {b} from position {pos}")),
        promised_from: durable
            .promised_from
            .filter(|_| honest)
            .map(|(pos, b)| format!("{b} from position {pos}")),
        slots,
        log: w
            .log(m)
            .into_iter()
            .map(|(p, v)| (p, v.to_string()))
            .collect(),
        flagged: w
            .accusations()
            .iter()
            .filter(|(by, _, _)| *by == id && honest)
            .map(|(_, node, why)| (*node, why.clone()))
            .collect(),
        notes: w.notes(m).to_vec(),
    }
}

fn setup_view(s: &Session) -> SetupView {
    let spec = s.world.spec();
    SetupView {
        nodes: s.setup.nodes,
        bft: s.setup.bft,
        attack: s.setup.attack.map(|a| a.to_string()),
        attack_what: s.setup.attack.map(|a| a.what().to_string()),
        attacker: s.setup.attack.map(|_| s.setup.attacker),
        seed: s.setup.seed,
        defences: Defence::ALL
            .into_iter()
            .map(|d| DefenceView {
                name: d.name(),
                answers: d.answers(),
                what: d.what(),
                on: spec.defences.contains(d),
            })
            .collect(),
    }
}

/// An SVG document as an element inside the page: without its XML prolog
/// and namespace name (HTML knows `<svg>`), so the page names no URL at all.
fn inline(svg: &str) -> String {
    let body = match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    };
    body.replacen(" xmlns=\"http://www.w3.org/2000/svg\"", "", 1)
}

/// The latest rows of the run's chart, as SVG.
fn chart_svg(s: &Session) -> String {
    let attack = s.setup.attack.map(|a| a.to_string());
    let title = format!("explored run, seed {}", s.setup.seed);
    match s.world.chart(title, attack) {
        Some(mut t) => {
            let skip = t.steps.len().saturating_sub(CHART_ROWS);
            if skip > 0 {
                t.steps.drain(..skip);
                t.caption = format!("the latest {CHART_ROWS} rows; {}", t.caption);
            }
            inline(&crate::trace::svg::render(&t))
        }
        None => String::new(),
    }
}

impl View {
    fn of(s: &Session) -> View {
        let w = &s.world;
        let kind = w.violation().map(|f| match f.violation {
            Violation::Agreement { .. } => 0,
            Violation::Validity { .. } => 1,
            Violation::Stability { .. } => 2,
        });
        let trace = w.trace();
        let query = s.query().encode();
        View {
            command: format!("paxos explore --replay '{query}'"),
            query,
            setup: setup_view(s),
            now: w.now(),
            actions: s.actions.len(),
            codes: encode_actions(&s.actions),
            members: (0..w.members()).map(|m| member_view(s, m)).collect(),
            flying: w.flying(),
            invariants: InvariantsView {
                agreement: kind != Some(0),
                validity: kind != Some(1),
                stability: kind != Some(2),
            },
            violation: w.violation().map(violation_view),
            detected: w.detected().into_iter().collect(),
            cuts: w.cut_links(),
            trace: trace[trace.len().saturating_sub(TRACE_LINES)..].to_vec(),
            chart_svg: chart_svg(s),
            sim_command: super::lessons::sim_command(s),
        }
    }

    /// The view as text, for `paxos explore --replay`.
    pub fn render(&self) -> String {
        let s = if self.actions == 1 { "" } else { "s" };
        let mut out = format!("t={}  after {} action{s}\n", self.now, self.actions);
        for m in &self.members {
            let state = if m.up { "up" } else { "DOWN" };
            let log: Vec<String> = m.log.iter().map(|(p, v)| format!("{p}:{v}")).collect();
            out.push_str(&format!(
                "node {} ({}, {state}){}  log [{}]\n",
                m.id,
                m.role,
                m.leads
                    .as_ref()
                    .map(|l| format!(", leads in {l}"))
                    .unwrap_or_default(),
                log.join(" ")
            ));
            for (node, why) in &m.flagged {
                out.push_str(&format!("  flagged node {node}: {why}\n"));
            }
        }
        let n = self.flying.len();
        let s = if n == 1 { "" } else { "s" };
        out.push_str(&format!("{n} packet{s} in flight\n"));
        match &self.violation {
            Some(v) => out.push_str(&format!("VIOLATION {}\n", v.text)),
            None => out.push_str("agreement, validity and stability hold\n"),
        }
        out.push_str(&format!("this moment: {}\n", self.command));
        if let Some(sim) = &self.sim_command {
            out.push_str(&format!("the whole run: {sim}\n"));
        }
        out
    }
}
