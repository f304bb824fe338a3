//! A per-storage-index async lock for one storage server (Tahoe-LAFS #1869:
//! the cloud backend had none, so a read could interleave with a chunked
//! write). Single-threaded: `Rc` and `RefCell`, FIFO hand-over.

use std::cell::RefCell;
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use futures::channel::oneshot;

use crate::cap::StorageIndex;

/// The locks of one server, keyed by storage index. An index with no holder
/// has no entry, so memory stays flat however many files the server sees.
#[derive(Default)]
pub struct IndexLocks {
    /// Present while held; the queue holds the waiters, first come first served.
    held: RefCell<BTreeMap<StorageIndex, VecDeque<oneshot::Sender<()>>>>,
}

impl IndexLocks {
    pub fn new() -> Rc<Self> {
        Rc::new(IndexLocks::default())
    }

    /// Waits until `index` is free and takes it; the guard frees it.
    pub async fn lock(self: &Rc<Self>, index: StorageIndex) -> IndexGuard {
        let receiver = {
            let mut held = self.held.borrow_mut();
            match held.get_mut(&index) {
                None => {
                    held.insert(index, VecDeque::new());
                    None
                }
                Some(waiters) => {
                    let (sender, receiver) = oneshot::channel();
                    waiters.push_back(sender);
                    Some(receiver)
                }
            }
        };
        if let Some(receiver) = receiver {
            Waiting { receiver, locks: self.clone(), index, acquired: false }.await;
        }
        IndexGuard { locks: self.clone(), index }
    }

    /// Hands the lock to the next live waiter, or frees it.
    fn release(&self, index: StorageIndex) {
        let mut held = self.held.borrow_mut();
        loop {
            let Some(waiters) = held.get_mut(&index) else { return };
            match waiters.pop_front() {
                None => {
                    held.remove(&index);
                    return;
                }
                // A waiter that was dropped (its handler aborted) refuses the
                // hand-over; try the next.
                Some(sender) => {
                    if sender.send(()).is_ok() {
                        return;
                    }
                }
            }
        }
    }

    /// Indexes currently held (for tests).
    pub fn held_count(&self) -> usize {
        self.held.borrow().len()
    }
}

/// Holds the lock of one index until dropped.
pub struct IndexGuard {
    locks: Rc<IndexLocks>,
    index: StorageIndex,
}

impl Drop for IndexGuard {
    fn drop(&mut self) {
        self.locks.release(self.index);
    }
}

/// A waiter's future. If it is dropped after the lock was handed to it but
/// before it ran (its handler was aborted), it passes the lock on, so an
/// aborted waiter never strands the index.
struct Waiting {
    receiver: oneshot::Receiver<()>,
    locks: Rc<IndexLocks>,
    index: StorageIndex,
    acquired: bool,
}

impl Future for Waiting {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match Pin::new(&mut self.receiver).poll(cx) {
            // A cancelled sender means the lock map itself went away: there
            // is nothing left to wait for.
            Poll::Ready(_) => {
                self.acquired = true;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.acquired {
            self.receiver.close();
            if let Ok(Some(())) = self.receiver.try_recv() {
                self.locks.release(self.index);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    #[test]
    fn hand_over_and_abort() {
        let locks = IndexLocks::new();
        let index = StorageIndex([1; 16]);
        let first = locks.lock(index).now_or_never().expect("free lock is taken at once");
        let mut second = Box::pin(locks.lock(index));
        assert!(second.as_mut().now_or_never().is_none());
        let mut third = Box::pin(locks.lock(index));
        assert!(third.as_mut().now_or_never().is_none());
        drop(first); // hands over to second
        drop(second); // second never ran: passes to third
        let guard = third.as_mut().now_or_never().expect("third gets the lock");
        drop(guard);
        assert_eq!(locks.held_count(), 0);
    }
}
