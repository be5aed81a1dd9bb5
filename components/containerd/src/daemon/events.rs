//! The event exchange: what the daemon and the shims publish, fanned out to every
//! subscriber whose filters match (`ctr events`, dockerd's task-exit watcher).

use std::sync::Arc;

use containerd_client::types::Envelope;
use tokio::sync::broadcast;

use super::filter::Filters;

#[derive(Clone)]
pub struct Exchange {
    tx: broadcast::Sender<Envelope>,
}

impl Default for Exchange {
    fn default() -> Self {
        let (tx, _) = broadcast::channel(1024);
        Exchange { tx }
    }
}

impl Exchange {
    pub fn forward(&self, env: Envelope) {
        // No subscribers is not an error: events are fire and forget.
        let _ = self.tx.send(env);
    }

    pub fn publish<M: prost::Message + prost::Name>(&self, ns: &str, topic: &str, event: &M) {
        self.forward(Envelope {
            timestamp: Some(std::time::SystemTime::now().into()),
            namespace: ns.to_owned(),
            topic: topic.to_owned(),
            event: Some(containerd_client::to_any(event)),
        });
    }

    /// A stream of the envelopes matching `filters` from now on.
    pub fn subscribe(
        &self,
        filters: Filters,
    ) -> impl futures::Stream<Item = Result<Envelope, tonic::Status>> + Send + 'static {
        let rx = self.tx.subscribe();
        let filters = Arc::new(filters);
        futures::stream::unfold(rx, move |mut rx| {
            let filters = filters.clone();
            async move {
                loop {
                    match rx.recv().await {
                        Ok(env) => {
                            let ok = filters.matches(|f| match f {
                                "namespace" => Some(env.namespace.clone()),
                                "topic" => Some(env.topic.clone()),
                                "event.type" | "type" => {
                                    env.event.as_ref().map(|e| e.type_url.clone())
                                }
                                _ => None,
                            });
                            if ok {
                                return Some((Ok(env), rx));
                            }
                        }
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        })
    }
}
