//! Group commit: the batches of concurrent requests (and MQTT messages) are written together,
//! in one durable transaction, instead of one transaction each.
//!
//! A durable commit waits for the disk (an fsync); with one per request, single-event requests
//! could go no faster than the disk flushes. One task takes the batches from a queue: while it
//! writes a group, the next requests queue up, and it takes them all (up to [`MAX_GROUP`]
//! events) as the next group. Under light load a group is one request and nothing waits; under
//! heavy load a group grows, and the fsyncs per second stay what the disk can do. Every caller
//! is answered only after the commit that holds its events. The inventory's checker is
//! compiled once per inventory version, not per request.

use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use touchbase_core::event::Checker;
use touchbase_core::{Actor, Permission};
use touchbase_store::ingest::{self, Input, Outcome};
use touchbase_store::{OpError, Store};

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
    /// Starts the writing task on the current tokio runtime.
    pub fn start(store: Arc<dyn Store>) -> Committer {
        let (queue, jobs) = mpsc::channel(1024);
        tokio::spawn(run(store, jobs));
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

/// The writing task: one group at a time, until every handle is dropped.
async fn run(store: Arc<dyn Store>, mut jobs: mpsc::Receiver<Job>) {
    let mut checker: Option<(u64, Checker)> = None;
    while let Some(first) = jobs.recv().await {
        let mut group = vec![first];
        let mut events = group[0].inputs.len();
        while events < MAX_GROUP {
            match jobs.try_recv() {
                Ok(job) => {
                    events += job.inputs.len();
                    group.push(job);
                }
                Err(_) => break,
            }
        }
        let result = write(&*store, &mut checker, &mut group).await;
        answer(group, result);
    }
}

/// Writes a group's inputs in one commit.
async fn write(
    store: &dyn Store,
    checker: &mut Option<(u64, Checker)>,
    group: &mut [Job],
) -> Result<Vec<Outcome>, OpError> {
    let version = store.version().await?;
    if checker.as_ref().is_none_or(|(v, _)| *v != version) {
        *checker = Some((version, ingest::checker(store).await?));
    }
    let Some((_, checker)) = checker.as_ref() else {
        unreachable!("set above");
    };
    let inputs: Vec<Input> = group
        .iter_mut()
        .flat_map(|job| std::mem::take(&mut job.inputs))
        .collect();
    let prepared = ingest::prepare_batch(checker, &inputs);
    ingest::commit(store, prepared).await
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
