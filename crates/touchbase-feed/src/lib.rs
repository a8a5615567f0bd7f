//! The reverse feed's dispatcher (R18): it claims the deliveries that are due from the store's
//! outbox, sends each to its endpoint (a Standard Webhooks-signed POST, a NATS JetStream
//! publish, an MQTT publish with QoS 1), and records every attempt: delivered, due again by
//! the retry schedule, or dead once the schedule is spent.
//!
//! At least once: a delivery is marked delivered only after the target acknowledged it, and a
//! dispatcher that dies holding deliveries loses them to no one: their lease runs out and the
//! next claim takes them. One step ([`Dispatcher::step`]) is what the loop, `touchbase deliver
//! --until-idle` and the tests all run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use touchbase_core::endpoint::{Endpoint, EndpointKind, Keys};
use touchbase_core::event::Firing as Fire;
use touchbase_core::{Actor, Role};
use touchbase_store::ingest::{self, Input};
use touchbase_store::outbox::{Attempt, Delivery, Finished, Next};
use touchbase_store::{OpError, Store, feed};

pub mod metric;
pub mod mqtt;
pub mod nats;
pub mod schedule;
pub mod webhook;

/// The shortest wait of an idle dispatcher.
const IDLE_AT_LEAST: Duration = Duration::from_millis(100);

/// How long the loop waits after a wake before it claims.
const WAKE_GATHER: Duration = Duration::from_millis(5);

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    pub status: Option<u16>,
    pub outcome: Outcome,
    pub detail: String,
    pub retry_after_s: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed: tried again by the schedule.
    Failed,
    /// The target said it is gone (HTTP 410): the endpoint is disabled.
    Gone,
}

impl Sent {
    pub fn delivered(status: Option<u16>, detail: String) -> Sent {
        Sent {
            status,
            outcome: Outcome::Delivered,
            detail,
            retry_after_s: None,
        }
    }
    pub fn retry(status: Option<u16>, detail: String, retry_after_s: Option<i64>) -> Sent {
        Sent {
            status,
            outcome: Outcome::Failed,
            detail,
            retry_after_s,
        }
    }
    pub fn gone(status: Option<u16>, detail: String) -> Sent {
        Sent {
            status,
            outcome: Outcome::Gone,
            detail,
            retry_after_s: None,
        }
    }
}

/// How the dispatcher runs.
#[derive(Debug, Clone)]
pub struct Config {
    /// The NATS server NATS endpoints publish to.
    pub nats_url: String,
    /// The MQTT broker MQTT endpoints publish to.
    pub mqtt_url: String,
    /// Deliveries claimed per step.
    pub batch: u32,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claim holds its deliveries (longer than the 15 s a target has to answer).
    pub lease: Duration,
    /// An endpoint that has failed every attempt for this long is disabled (Svix's rule).
    pub disable_after: Duration,
    /// How often an idle dispatcher looks for deliveries when nothing wakes it.
    pub poll: Duration,
    /// The server's address the invitations' links handed out by `invite` actions point at.
    pub public_url: String,
    /// The wait before each attempt, in seconds (the first is at once): the Standard Webhooks
    /// schedule, [`schedule::SCHEDULE_S`]; tests shorten it.
    pub schedule_s: Vec<i64>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            mqtt_url: "mqtt://127.0.0.1:1883".to_owned(),
            batch: 64,
            concurrency: 64,
            lease: Duration::from_secs(60),
            disable_after: Duration::from_secs(5 * 86_400),
            poll: Duration::from_secs(1),
            public_url: "http://127.0.0.1:7878".to_owned(),
            schedule_s: schedule::SCHEDULE_S.to_vec(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FeedError {
    #[error(transparent)]
    Op(#[from] OpError),
    #[error(transparent)]
    Store(#[from] touchbase_store::StoreError),
    #[error("the HTTP client could not be made: {0}")]
    Http(#[from] reqwest::Error),
    /// A delivery's body that an action cannot work with.
    #[error("{0}")]
    Body(String),
}

/// What one step did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Step {
    pub claimed: u64,
    pub delivered: u64,
    pub failed: u64,
    pub dead: u64,
}

impl Step {
    fn add(&mut self, o: Step) {
        self.claimed += o.claimed;
        self.delivered += o.delivered;
        self.failed += o.failed;
        self.dead += o.dead;
    }
}

/// The actor the dispatcher records its own writes under.
pub fn actor() -> Actor {
    Actor {
        name: feed::DISPATCHER.to_owned(),
        role: Role::Admin,
        teams: Vec::new(),
    }
}

/// The endpoints and rules as of one store version.
#[derive(Debug, Default)]
struct Known {
    version: u64,
    endpoints: BTreeMap<String, Endpoint>,
    /// Each rule's `record_at` point, for those that name one.
    record_at: BTreeMap<String, String>,
    /// The survey each (rule, endpoint) action hands out invitations to, where it does.
    invites: BTreeMap<(String, String), String>,
}

#[derive(Debug)]
pub struct Dispatcher {
    store: Arc<dyn Store>,
    keys: Keys,
    config: Config,
    http: webhook::Clients,
    nats: nats::Nats,
    mqtt: mqtt::Mqtt,
    known: tokio::sync::Mutex<Known>,
    wake: Arc<tokio::sync::Notify>,
}

impl Dispatcher {
    pub fn new(store: Arc<dyn Store>, keys: Keys, config: Config) -> Result<Dispatcher, FeedError> {
        Ok(Dispatcher {
            http: webhook::Clients::new()?,
            nats: nats::Nats::new(&config.nats_url),
            mqtt: mqtt::Mqtt::new(&config.mqtt_url),
            store,
            keys,
            config,
            known: tokio::sync::Mutex::new(Known {
                version: u64::MAX,
                ..Known::default()
            }),
            wake: Arc::new(tokio::sync::Notify::new()),
        })
    }

    /// A handle that wakes the loop at once (after a write that may have fired rules).
    pub fn waker(&self) -> Arc<tokio::sync::Notify> {
        Arc::clone(&self.wake)
    }

    /// The same dispatcher, woken by `wake` (the server's notice of each write).
    pub fn woken_by(mut self, wake: Arc<tokio::sync::Notify>) -> Dispatcher {
        self.wake = wake;
        self
    }

    async fn known(&self) -> Result<tokio::sync::MutexGuard<'_, Known>, FeedError> {
        let mut known = self.known.lock().await;
        let version = self.store.version().await?;
        if known.version != version {
            let state = touchbase_store::load(self.store.as_ref()).await?;
            *known = Known {
                version: state.version,
                endpoints: state
                    .value
                    .endpoints
                    .iter()
                    .map(|e| (e.key.clone(), e.clone()))
                    .collect(),
                record_at: state
                    .value
                    .rules()
                    .iter()
                    .filter_map(|r| r.record_at.clone().map(|p| (r.key.clone(), p)))
                    .collect(),
                invites: state
                    .value
                    .rules()
                    .iter()
                    .flat_map(|r| {
                        r.actions.iter().filter_map(|a| {
                            let survey = a.invite.clone()?;
                            Some(((r.key.clone(), a.endpoint.clone()), survey))
                        })
                    })
                    .collect(),
            };
        }
        Ok(known)
    }

    /// The enabled endpoints' keys.
    async fn enabled(&self) -> Result<Vec<String>, FeedError> {
        Ok(self
            .known()
            .await?
            .endpoints
            .values()
            .filter(|e| e.disabled.is_none())
            .map(|e| e.key.clone())
            .collect())
    }

    /// Claims what is due, sends it, records every attempt.
    pub async fn step(&self) -> Result<Step, FeedError> {
        let enabled = self.enabled().await?;
        if enabled.is_empty() {
            return Ok(Step::default());
        }
        let now = ingest::now_us();
        let claimed = self
            .store
            .claim_deliveries(
                &enabled,
                now,
                self.config.lease.as_micros() as i64,
                self.config.batch,
            )
            .await?;
        if claimed.is_empty() {
            return Ok(Step::default());
        }
        // What the step needs of the rules and endpoints, read once for all its sends.
        let (endpoints, invites) = {
            let known = self.known().await?;
            (known.endpoints.clone(), known.invites.clone())
        };
        type Sending<'a> = std::pin::Pin<
            Box<dyn std::future::Future<Output = (&'a Delivery, i64, Duration, Sent)> + Send + 'a>,
        >;
        let sending: Vec<Sending<'_>> = claimed
            .iter()
            .map(|d| {
                let e = endpoints.get(&d.endpoint);
                let invite = invites.get(&(d.rule.clone(), d.endpoint.clone()));
                Box::pin(async move {
                    let start = Instant::now();
                    let at = ingest::now_us();
                    let sent = match e {
                        Some(e) => self.send(e, d, invite.map(String::as_str)).await,
                        None => Sent::retry(
                            None,
                            format!("endpoint `{}` no longer exists", d.endpoint),
                            None,
                        ),
                    };
                    (d, at, start.elapsed(), sent)
                }) as Sending<'_>
            })
            .collect();
        let sends: Vec<_> = futures_util::stream::iter(sending)
            .buffer_unordered(self.config.concurrency)
            .collect()
            .await;
        let mut step = Step {
            claimed: claimed.len() as u64,
            ..Step::default()
        };
        let mut finished = Vec::with_capacity(sends.len());
        let mut gone = Vec::new();
        let mut failing = Vec::new();
        let mut delivered = Vec::new();
        for (d, at, took, sent) in sends {
            let tries = d.tries + 1;
            let (next, outcome) = match sent.outcome {
                Outcome::Delivered => {
                    step.delivered += 1;
                    delivered.push(d);
                    (Next::Delivered, "delivered")
                }
                Outcome::Gone => {
                    gone.push(d.endpoint.clone());
                    match schedule::next_in(&self.config.schedule_s, tries, at, None) {
                        Some(due) => (Next::Retry(due), "gone"),
                        None => (Next::Dead, "dead"),
                    }
                }
                Outcome::Failed => {
                    failing.push(d.endpoint.clone());
                    match schedule::next_in(&self.config.schedule_s, tries, at, sent.retry_after_s)
                    {
                        Some(due) => (Next::Retry(due), "retry"),
                        None => (Next::Dead, "dead"),
                    }
                }
            };
            match next {
                Next::Dead => step.dead += 1,
                Next::Retry(_) => step.failed += 1,
                Next::Delivered => {}
            }
            finished.push(Finished {
                id: d.id.clone(),
                endpoint: d.endpoint.clone(),
                attempt: Attempt {
                    n: d.attempts + 1,
                    at,
                    status: sent.status,
                    latency_us: took.as_micros() as i64,
                    outcome: outcome.to_owned(),
                    detail: sent.detail,
                },
                next,
            });
        }
        self.store.finish_attempts(&finished).await?;
        self.record(&delivered).await?;
        gone.sort();
        gone.dedup();
        for key in &gone {
            feed::set_endpoint_disabled(
                self.store.as_ref(),
                &actor(),
                key,
                Some("the target answered 410 Gone"),
            )
            .await?;
        }
        failing.sort();
        failing.dedup();
        let limit = self.config.disable_after.as_micros() as i64;
        for key in failing.iter().filter(|k| !gone.contains(k)) {
            if let Some(since) = self.store.failing_since(key).await?
                && now - since >= limit
            {
                let days = self.config.disable_after.as_secs_f64() / 86_400.0;
                let reason = format!("every attempt failed for {days} days");
                feed::set_endpoint_disabled(self.store.as_ref(), &actor(), key, Some(&reason))
                    .await?;
            }
        }
        Ok(step)
    }

    /// Sends one delivery; with `invite`, the survey its action hands an invitation out to.
    async fn send(&self, e: &Endpoint, d: &Delivery, invite: Option<&str>) -> Sent {
        let with_invitation;
        let d = match invite {
            None => d,
            Some(survey) => match self.with_invitation(d, survey).await {
                Ok(body) => {
                    with_invitation = Delivery { body, ..d.clone() };
                    &with_invitation
                }
                Err(e) => {
                    return Sent::retry(
                        None,
                        format!("the invitation to survey `{survey}` could not be handed out: {e}"),
                        None,
                    );
                }
            },
        };
        match e.kind {
            EndpointKind::Webhook => self.http.send(&self.keys, e, d).await,
            EndpointKind::Nats => self.nats.send(&self.keys, e, d).await,
            EndpointKind::Mqtt => self.mqtt.send(e, d).await,
        }
    }

    /// The delivery's body with the invitation its action hands out for the event that fired
    /// (`invitation`: its id, survey, party, `link` and `expires_at`, or the survey and why the
    /// party was not invited), the same at every attempt.
    async fn with_invitation(&self, d: &Delivery, survey: &str) -> Result<String, FeedError> {
        let mut body: serde_json::Value = serde_json::from_str(&d.body)
            .map_err(|e| FeedError::Body(format!("the delivery's body is not JSON: {e}")))?;
        let event = &body["event"];
        let text = |name: &str| event.get(name).and_then(|v| v.as_str()).map(str::to_owned);
        let at = text("at")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|t| t.as_microsecond());
        let (Some(event_id), Some(point), Some(at)) = (text("id"), text("point"), at) else {
            return Err(FeedError::Body(
                "the delivery carries no event (an invitation is about the event that fired)"
                    .to_owned(),
            ));
        };
        let fired = touchbase_store::invitations::Fired {
            event_id,
            point,
            at,
            party: text("party"),
        };
        let handed = touchbase_store::invitations::hand_out(
            self.store.as_ref(),
            &self.keys,
            survey,
            &fired,
            &d.id,
            d.fired_at,
        )
        .await?;
        let mut handed = serde_json::to_value(&handed)
            .map_err(|e| FeedError::Body(format!("the invitation: {e}")))?;
        if let Some(link) = handed.get_mut("link") {
            let path = link.as_str().unwrap_or_default().to_owned();
            *link = serde_json::Value::String(format!(
                "{}{path}",
                self.config.public_url.trim_end_matches('/')
            ));
        }
        body["invitation"] = handed;
        Ok(body.to_string())
    }

    /// Records each delivered action of a rule with `record_at` as an interaction at that
    /// point (its id the delivery's, so a delivery sent twice is recorded once; it fires no
    /// rule, so a rule cannot feed itself).
    async fn record(&self, delivered: &[&Delivery]) -> Result<(), FeedError> {
        let record_at = self.known().await?.record_at.clone();
        let inputs: Vec<Input> = delivered
            .iter()
            .filter_map(|d| {
                let point = record_at.get(&d.rule)?;
                let body: serde_json::Value = serde_json::from_str(&d.body).ok()?;
                let party = body.pointer("/event/party").cloned();
                let mut event = serde_json::json!({
                    "id": d.id,
                    "point": point,
                    "at": touchbase_core::rules::instant(ingest::now_us()),
                    "channel": "feed",
                });
                if let Some(p) = party {
                    event["party"] = p;
                }
                Some(Input::new(event.to_string(), format!("feed:{}", d.rule)))
            })
            .collect();
        if inputs.is_empty() {
            return Ok(());
        }
        let mut checker = ingest::checker(self.store.as_ref()).await?;
        checker.value = checker.value.firing(Fire::Off);
        ingest::ingest(self.store.as_ref(), &actor(), &checker, &inputs).await?;
        Ok(())
    }

    /// Steps until nothing is due now (the metric rules that are due evaluated first);
    /// returns the totals.
    pub async fn run_until_idle(&self) -> Result<Step, FeedError> {
        metric::evaluate_due(self.store.as_ref(), ingest::now_us()).await?;
        let mut total = Step::default();
        loop {
            let step = self.step().await?;
            total.add(step);
            if step.claimed == 0 {
                return Ok(total);
            }
        }
    }

    /// Steps until `shutdown` resolves: at once after a wake, else when the next delivery is
    /// due, looking at least every `poll`. A failed step (the database away) is logged and
    /// tried again after a pause.
    pub async fn run(&self, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut evaluated = Instant::now() - Duration::from_secs(3_600);
        loop {
            // Metric rules are looked at about once a second; each is evaluated when due.
            if evaluated.elapsed() >= Duration::from_secs(1) {
                evaluated = Instant::now();
                if let Err(e) = metric::evaluate_due(self.store.as_ref(), ingest::now_us()).await {
                    tracing::warn!("the reverse feed's metric rules: {e}");
                }
            }
            // A step is cut short by the shutdown: what it claimed and did not finish is
            // claimed again when its lease ends.
            let stepped = tokio::select! {
                biased;
                _ = &mut shutdown => return,
                stepped = self.step() => stepped,
            };
            let pause = match stepped {
                Ok(step) if step.claimed > 0 => Duration::ZERO,
                Ok(_) => self.idle_for().await,
                Err(e) => {
                    tracing::warn!("the reverse feed's dispatcher: {e}");
                    Duration::from_secs(2)
                }
            };
            if pause.is_zero() {
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                // Woken by a write: a moment more gathers the writes that follow it (under
                // load a group is written every millisecond or so), so a busy store is asked
                // for due deliveries at most 200 times a second.
                _ = self.wake.notified() => tokio::time::sleep(WAKE_GATHER).await,
                _ = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// How long to wait for the next due delivery: until it is due, at least
    /// [`IDLE_AT_LEAST`] (a due one may be leased by another dispatcher) and at most `poll`.
    async fn idle_for(&self) -> Duration {
        let enabled = match self.enabled().await {
            Ok(e) if !e.is_empty() => e,
            _ => return self.config.poll,
        };
        match self.store.next_due(&enabled).await {
            Ok(Some(due)) => {
                let wait = Duration::from_micros((due - ingest::now_us()).max(0) as u64);
                wait.clamp(IDLE_AT_LEAST, self.config.poll.max(IDLE_AT_LEAST))
            }
            _ => self.config.poll,
        }
    }
}
