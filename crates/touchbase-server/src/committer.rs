//! Group commit: the batches of concurrent requests (and MQTT messages) are written together,
//! in one durable transaction, instead of one transaction each.
//!
//! A durable commit waits for the disk (an fsync); with one per request, single-event requests
//! could go no faster than the disk flushes. One task takes the batches from a queue: while a
//! group is written, the next requests queue up, and it takes them all (up to [`MAX_GROUP`]
//! events) as the next group, decodes and checks them, then waits for the write in flight;
//! those that came while it waited join the group too (checked then), rather than waiting a
//! whole write more. Under light load a group is one request and nothing waits; under
//! heavy load a group grows, and the fsyncs per second stay what the disk can do. Every caller
//! is answered only after the commit that holds its events. The inventory's checker is
//! compiled once per inventory version, not per request.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::{mpsc, oneshot};
use touchbase_core::event::Checker;
use touchbase_core::{Actor, Permission};
use touchbase_store::ingest::{self, Input, Outcome};
use touchbase_store::{OpError, Store, Versioned};

use crate::journeys_keeper::Activity;

/// The most events written in one group.
pub const MAX_GROUP: usize = 20_000;

/// A batch waiting to be written, and where to send what became of it.
struct Job {
    /// How many inputs it brought (they are taken out to be written).
    len: usize,
    inputs: Vec<Input>,
    reply: oneshot::Sender<Result<Vec<Outcome>, Arc<OpError>>>,
}

/// The handle requests send their batches to; cheap to clone.
#[derive(Debug, Clone)]
pub struct Committer {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job")
            .field("inputs", &self.inputs.len())
            .finish()
    }
}

/// Why a batch could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    #[error(transparent)]
    Refused(#[from] OpError),
    /// The write failed; the error is shared by every batch of the group.
    #[error("{0}")]
    Failed(Arc<OpError>),
    #[error("the server is shutting down; send the events again")]
    Closed,
}

impl Committer {
    /// Starts the writing task on the current tokio runtime; it tells `activity` of each
    /// group written.
    pub fn start(
        store: Arc<dyn Store>,
        activity: Arc<Activity>,
        written: Arc<tokio::sync::Notify>,
    ) -> Committer {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(store, jobs, activity, written));
        Committer { queue }
    }

    /// Takes a batch of inputs: written with whatever else is waiting, answered after the
    /// commit, each input's outcome in order.
    pub async fn ingest(
        &self,
        actor: &Actor,
        inputs: Vec<Input>,
    ) -> Result<Vec<Outcome>, CommitError> {
        actor.require(Permission::Ingest).map_err(OpError::from)?;
        let (reply, answer) = oneshot::channel();
        self.queue
            .send(Job {
                len: inputs.len(),
                inputs,
                reply,
            })
            .await
            .map_err(|_| CommitError::Closed)?;
        match answer.await {
            Ok(Ok(outcomes)) => Ok(outcomes),
            Ok(Err(e)) => Err(CommitError::Failed(e)),
            Err(_) => Err(CommitError::Closed),
        }
    }
}

/// The writing task, until every handle is dropped: one group is written while the next is
/// gathered and checked (the disk and the CPU work at once); at most one write is in flight.
async fn run(
    store: Arc<dyn Store>,
    mut jobs: mpsc::Receiver<Job>,
    activity: Arc<Activity>,
    written: Arc<tokio::sync::Notify>,
) {
    let mut checker: Option<Versioned<Checker>> = None;
    // The store's version as the last write read it: a changed inventory is noticed at the
    // next group without a read of the store before every group.
    let seen = Arc::new(AtomicU64::new(UNKNOWN));
    let mut writing: Option<tokio::task::JoinHandle<()>> = None;
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        let mut events = group[0].len;
        take_waiting(&mut jobs, &mut group, &mut events);
        let inputs = inputs_of(&mut group);
        // The version now when no write is in flight; under load, as the last write read it
        // (an inventory change is then in force one group later, and events held by a checker
        // that the write finds out of date are released at once).
        let idle = writing.as_ref().is_none_or(|w| w.is_finished());
        let version = if idle {
            store.version().await.unwrap_or(UNKNOWN)
        } else {
            seen.load(Ordering::Acquire)
        };
        if version == UNKNOWN || checker.as_ref().is_none_or(|c| c.version != version) {
            // Refreshing reads the store: wait for the write in flight first.
            if let Some(done) = writing.take() {
                let _ = done.await;
            }
            match ingest::checker(&*store).await {
                Ok(fresh) => {
                    seen.store(fresh.version, Ordering::Release);
                    checker = Some(fresh);
                }
                Err(e) => {
                    answer(group, Err(e));
                    continue;
                }
            }
        }
        let Some(current) = checker.as_ref() else {
            unreachable!("set above");
        };
        let mut prepared = ingest::prepare_batch(current, &inputs);
        if let Some(done) = writing.take() {
            let _ = done.await;
            // What came while that write was in flight joins this group rather than waiting a
            // whole write more for the next one.
            let early = group.len();
            take_waiting(&mut jobs, &mut group, &mut events);
            if group.len() > early {
                let late = inputs_of(&mut group[early..]);
                prepared.join(ingest::prepare_batch(current, &late));
            }
        }
        let (store, seen, activity, notify) = (
            Arc::clone(&store),
            Arc::clone(&seen),
            Arc::clone(&activity),
            Arc::clone(&written),
        );
        writing = Some(tokio::spawn(async move {
            match ingest::commit(&*store, prepared).await {
                Ok(written) => {
                    seen.store(written.version, Ordering::Release);
                    activity.wrote();
                    notify.notify_one();
                    answer(group, Ok(written.value));
                }
                Err(e) => {
                    seen.store(UNKNOWN, Ordering::Release);
                    answer(group, Err(e));
                }
            }
        }));
    }
    if let Some(done) = writing.take() {
        let _ = done.await;
    }
}

/// Not yet read.
const UNKNOWN: u64 = u64::MAX;

/// Adds the jobs waiting in the queue to `group`, while it holds fewer than [`MAX_GROUP`]
/// events (`events`).
fn take_waiting(jobs: &mut mpsc::Receiver<Job>, group: &mut Vec<Job>, events: &mut usize) {
    while *events < MAX_GROUP {
        match jobs.try_recv() {
            Ok(job) => {
                *events += job.len;
                group.push(job);
            }
            Err(_) => break,
        }
    }
}

/// The inputs of `jobs`, in order, taken out to be written.
fn inputs_of(jobs: &mut [Job]) -> Vec<Input> {
    jobs.iter_mut()
        .flat_map(|job| std::mem::take(&mut job.inputs))
        .collect()
}

/// Sends each job its share of the outcomes (or the error).
fn answer(group: Vec<Job>, result: Result<Vec<Outcome>, OpError>) {
    match result {
        Ok(outcomes) => {
            let mut rest = outcomes.into_iter();
            for job in group {
                let mine: Vec<Outcome> = rest.by_ref().take(job.len).collect();
                // A caller that went away (closed connection) needs no answer.
                let _ = job.reply.send(Ok(mine));
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            for job in group {
                let _ = job.reply.send(Err(Arc::clone(&e)));
            }
        }
    }
}
