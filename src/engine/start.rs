//! The start step: the detection webhook, the workloads (or the cluster's checks), the
//! probes and the alert pollers. Nothing is changed in a cluster here.

use std::collections::BTreeMap;

use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::inputs::Inputs;
use super::record::describe_platform_event;
use super::{Progress, Runner, Started, Stop};
use crate::detection::poll::{PolledAlert, Poller, Source};
use crate::detection::webhook::{Desks, WebhookServer};
use crate::error::chain;
use crate::platform::kubernetes::KubernetesPlatform;
use crate::platform::local::{Events, LocalOptions, LocalPlatform};
use crate::platform::{Platform, PlatformEvent};
use crate::probe;
use crate::spec::{DetectionSignal, Target};

impl Runner {
    /// Starts everything the iterations need; on a failure, what did start is returned
    /// with the reason to stop, so that it is stopped again.
    pub(super) async fn start(&mut self) -> Started {
        // Local workloads are started here; a cluster's are already running.
        let starting = match &self.exp.spec.target {
            Target::Local(target) => Progress::Starting {
                replicas: target.workloads.iter().map(|w| w.replicas as usize).sum(),
            },
            Target::Kubernetes(target) => Progress::Connecting {
                context: self.opts.context.clone().or_else(|| target.context.clone()),
            },
        };
        self.record.progress(&starting);
        let mut stop = None;
        // Detection webhook first: workloads (an Alertmanager, say) may need its URL.
        let webhook = self.start_webhook().await.unwrap_or_else(|s| {
            stop = Some(s);
            None
        });
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let mut platform = None;
        if stop.is_none() {
            match self.start_platform(webhook.as_ref(), events_tx).await {
                Ok(p) => {
                    self.responder
                        .prepare_chats(p.template(), self.exp.spec.notification.as_ref());
                    if let Some(unavailable) = self.notifier.prepare_delivery(p.template()) {
                        self.record
                            .run_event("notification-delivery-unavailable", unavailable);
                    }
                    platform = Some(p);
                }
                Err(s) => stop = Some(s),
            }
        }
        let (obs_tx, obs_rx) = mpsc::channel(1024);
        let alerts = webhook.as_ref().map(WebhookServer::subscribe);
        let (mut inputs, polled_tx) = Inputs::new(obs_rx, events_rx, alerts);
        let stop_probes = CancellationToken::new();
        let mut services = BTreeMap::new();
        if let (None, Some(p)) = (&stop, &platform) {
            let probes = self
                .start_probes(p, obs_tx, &stop_probes, &mut inputs)
                .await;
            stop = probes
                .and_then(|()| self.start_pollers(p, polled_tx, &stop_probes))
                .err();
            services = p.services();
        }
        if let (None, Some(_)) = (&stop, &platform) {
            self.announce_ready(&services, webhook.as_ref());
        }
        Started {
            webhook,
            platform,
            inputs,
            stop_probes,
            services,
            stop,
        }
    }

    /// Every replica is ready: shown, with where alerts and acknowledgements go.
    fn announce_ready(
        &mut self,
        services: &BTreeMap<String, String>,
        webhook: Option<&WebhookServer>,
    ) {
        self.record.progress(&Progress::Ready {
            services: services.clone(),
            webhook: self.alert_url(webhook),
        });
        if let Some((url, roles)) = webhook.and_then(|w| self.notifier.listen(w)) {
            self.record
                .run_event("acknowledgements-listening", url.clone());
            self.record
                .progress(&Progress::AcknowledgeAt { url, roles });
        }
        if let Some(w) = webhook {
            self.responder.listen(w);
        }
        self.record
            .run_event("workloads-ready", format!("services {services:?}"));
    }

    /// Whether a detection signal listens for alerts on the webhook.
    fn alerts_wanted(&self) -> bool {
        let stop = self
            .exp
            .spec
            .safety
            .stop_when
            .iter()
            .any(|c| matches!(c, crate::spec::StopCondition::Webhook(_)));
        stop || self.exp.spec.detection.as_ref().is_some_and(|d| {
            d.signals
                .iter()
                .any(|s| matches!(s, DetectionSignal::Webhook(_)))
        })
    }

    /// The alert URL, when a signal listens for alerts (the webhook may serve only
    /// acknowledgements).
    fn alert_url(&self, webhook: Option<&WebhookServer>) -> Option<String> {
        webhook
            .filter(|_| self.alerts_wanted())
            .map(WebhookServer::url)
    }

    async fn start_webhook(&mut self) -> Result<Option<WebhookServer>, Stop> {
        let alerts = self.alerts_wanted();
        let desks = Desks {
            acks: self.notifier.acks(),
            desk: self.responder.desk(),
            stop: self.guard.button(),
        };
        if !alerts && desks.acks.is_none() && desks.desk.is_none() {
            return Ok(None);
        }
        let listen = self
            .exp
            .spec
            .detection
            .as_ref()
            .map_or("127.0.0.1:0", |d| d.webhook_listen.as_str());
        let addr: std::net::SocketAddr = listen
            .parse()
            .map_err(|e| Stop::Aborted(format!("invalid detection.webhookListen: {e}")))?;
        let server = WebhookServer::bind_with(addr, desks).await.map_err(|e| {
            Stop::Aborted(format!(
                "the detection webhook cannot listen on {addr}: {}",
                chain(&e)
            ))
        })?;
        if alerts {
            self.record.run_event("webhook-listening", server.url());
        }
        if let Some(button) = self.guard.button() {
            self.record.progress(&Progress::StopAt {
                link: server.link(&button.path()),
            });
        }
        Ok(Some(server))
    }

    /// Starts the local workloads, or connects to the cluster and checks every guardrail
    /// and permission; nothing is changed in a cluster here.
    async fn start_platform(
        &mut self,
        webhook: Option<&WebhookServer>,
        events_tx: mpsc::UnboundedSender<PlatformEvent>,
    ) -> Result<Platform, Stop> {
        match self.exp.spec.target.clone() {
            Target::Local(target) => {
                let options = LocalOptions {
                    firedrill: self.opts.firedrill.clone(),
                    webhook: self.alert_url(webhook),
                    log_dir: self.opts.out_dir.as_ref().map(|d| d.join("logs")),
                    base_dir: self
                        .opts
                        .source_file
                        .as_deref()
                        .and_then(|f| std::path::Path::new(f).parent())
                        .map(std::path::Path::to_path_buf),
                };
                LocalPlatform::start(&target, &options, Events(events_tx))
                    .await
                    .map(Platform::Local)
                    .map_err(|e| Stop::Aborted(format!("workloads did not start: {}", chain(&e))))
            }
            Target::Kubernetes(target) => self.connect(&target, webhook, events_tx).await,
        }
    }

    /// Connects to the cluster and checks every guardrail and permission.
    async fn connect(
        &mut self,
        target: &crate::spec::KubernetesTarget,
        webhook: Option<&WebhookServer>,
        events_tx: mpsc::UnboundedSender<PlatformEvent>,
    ) -> Result<Platform, Stop> {
        let spec = self.exp.spec.clone();
        let context = self.opts.context.as_deref();
        let restore = self.opts.restore_namespace.as_deref();
        let started = tokio::select! {
            started = KubernetesPlatform::start(&spec, target, context, restore, &self.ids.run_id, events_tx) => started,
            stop = self.guard.halted() => return Err(stop),
        };
        let platform = started.map_err(|e| {
            self.next_step = e.next_step().map(str::to_owned);
            let reason = format!(
                "the cluster was not ready for the run, nothing was changed: {}",
                chain(&e)
            );
            self.record
                .journal
                .record("preflight-failed", json!({"error": reason}), true);
            Stop::Aborted(reason)
        })?;
        let c = platform.connection().clone();
        self.pod_counts = platform.pod_counts().await;
        self.record.run_event_with(
            "kubernetes-connected",
            json!({"context": c.context, "server": c.server, "runId": self.ids.run_id, "pods": self.pod_counts}),
            format!("context {} at {}; permissions and guardrails checked", c.context, c.server),
        );
        let template = crate::spec::placeholders::Context {
            firedrill: self.opts.firedrill.display().to_string(),
            webhook: self.alert_url(webhook),
            ..crate::spec::placeholders::Context::default()
        };
        Ok(Platform::Kubernetes(platform, template))
    }

    /// Waits for the local workloads to be ready, then starts one task per probe.
    async fn start_probes(
        &mut self,
        platform: &Platform,
        obs_tx: mpsc::Sender<crate::probe::Observation>,
        stop: &CancellationToken,
        inputs: &mut Inputs,
    ) -> Result<(), Stop> {
        if let (Target::Local(target), Platform::Local(local)) =
            (self.exp.spec.target.clone(), platform)
        {
            self.record.run_event(
                "workloads-starting",
                format!("{} workload(s)", target.workloads.len()),
            );
            let log_dir = self.opts.out_dir.as_ref().map(|d| d.join("logs"));
            local
                .wait_ready(
                    target.startup_timeout.get(),
                    self.guard.token(),
                    log_dir.as_deref(),
                )
                .await
                .map_err(|e| match e {
                    crate::platform::local::PlatformError::Cancelled => Stop::Interrupted,
                    e => Stop::Aborted(chain(&e)),
                })?;
        }
        // What happened while starting belongs to the run, not to the first iteration.
        for ev in inputs.platform_events_so_far() {
            let (data, detail) = describe_platform_event(&ev);
            self.record.run_event_with(ev.kind(), data, detail);
        }
        let interval = self.exp.spec.steady_state.interval.get();
        for (i, spec) in self.exp.spec.steady_state.probes.iter().enumerate() {
            let cluster = platform
                .cluster()
                .map(|c| (c, tokio::runtime::Handle::current()));
            let probe = probe::build(spec, platform.template(), cluster, &self.ids.trace)
                .map_err(|e| Stop::Aborted(chain(&e)))?;
            inputs.spawn_probe(probe::run(
                i,
                spec.name().to_owned(),
                self.ids.trace.clone(),
                probe,
                interval,
                spec.timeout().get(),
                obs_tx.clone(),
                stop.child_token(),
            ));
        }
        Ok(())
    }

    /// Starts a poller for each polling detection signal; it runs until `stop`.
    fn start_pollers(
        &mut self,
        platform: &Platform,
        tx: mpsc::UnboundedSender<PolledAlert>,
        stop: &CancellationToken,
    ) -> Result<(), Stop> {
        let signals = self
            .exp
            .spec
            .detection
            .as_ref()
            .map(|d| d.signals.clone())
            .unwrap_or_default();
        // The stop conditions that poll are polled the same way; their alerts carry their
        // own names, which no detection signal shares.
        let polled = signals
            .iter()
            .filter_map(|signal| match signal {
                DetectionSignal::AlertmanagerAlert(s) => Some((Source::Alertmanager, s)),
                DetectionSignal::PrometheusAlert(s) => Some((Source::Prometheus, s)),
                _ => None,
            })
            .chain(
                self.exp
                    .spec
                    .safety
                    .stop_when
                    .iter()
                    .filter_map(|c| match c {
                        crate::spec::StopCondition::AlertmanagerAlert(s) => {
                            Some((Source::Alertmanager, s))
                        }
                        crate::spec::StopCondition::PrometheusAlert(s) => {
                            Some((Source::Prometheus, s))
                        }
                        crate::spec::StopCondition::Webhook(_) => None,
                    }),
            )
            .map(|(source, s)| (source, s.clone()))
            .collect::<Vec<_>>();
        for (source, s) in &polled {
            let source = *source;
            let url = crate::spec::placeholders::expand(&s.url, platform.template())
                .map_err(|e| Stop::Aborted(format!("signal `{}`: {}", s.name, chain(&e))))?;
            let poller =
                Poller::new(&s.name, source, &url, s.matchers.clone(), s.interval.get())
                    .map_err(|e| Stop::Aborted(format!("signal `{}`: {}", s.name, chain(&e))))?;
            self.record.run_event(
                "alert-polling",
                format!("signal {} polls {url} every {}", s.name, s.interval),
            );
            // Pollers end with the probes; nothing waits for them.
            tokio::spawn(poller.run(tx.clone(), stop.child_token()));
        }
        Ok(())
    }
}
