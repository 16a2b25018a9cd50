//! Mail notifications: every match, move and deadline reminder told to an organisation is
//! mailed to its accounts with a deep link into the web UI and nothing that identifies anyone
//! ([`compose`], quoting 004 §11 and §13), through a durable outbox ([`outbox`]) that the
//! [`Mailer`] drains over SMTP with `lettre`, retrying with `backon`.
//!
//! Delivery is at least once: a mail is marked sent after the SMTP server accepted it, so a
//! crash between the two sends it again (with the same Message-ID, by which a mail client
//! folds the copies); it is never lost.

pub mod compose;
pub mod outbox;

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lettre::message::header::ContentType;
use lettre::message::Mailbox;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;
use vir_shared::db::Db;
use vir_shared::SharedClock;

/// `[mail]`: the SMTP relay and the address deep links start with.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    /// Sender address, e.g. `verwijsindex@drenthe.example`.
    pub from: String,
    /// Start of the deep links (`https://vir.drenthe.example`); default: the web UI's address.
    #[serde(default)]
    pub base_url: Option<String>,
    /// Require STARTTLS towards the relay. Off only for a relay on this machine or a test.
    #[serde(default = "default_starttls")]
    pub starttls: bool,
    /// How often the outbox is looked at.
    #[serde(default = "default_poll_ms")]
    pub poll_ms: u64,
}

fn default_port() -> u16 {
    25
}
fn default_starttls() -> bool {
    true
}
fn default_poll_ms() -> u64 {
    2000
}

impl MailConfig {
    /// A plain SMTP relay on this machine (development and tests).
    pub fn local(port: u16, from: &str, base_url: Option<String>) -> MailConfig {
        MailConfig {
            host: "127.0.0.1".into(),
            port,
            from: from.to_owned(),
            base_url,
            starttls: false,
            poll_ms: 250,
        }
    }
}

/// Fills the mail outbox from notifications and notices, and sends it.
pub struct Mailer {
    pub db: Db,
    pub clock: SharedClock,
    pub config: MailConfig,
    /// Where deep links point.
    pub base_url: String,
}

impl Mailer {
    fn transport(&self) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        let builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.config.host)
            .port(self.config.port)
            .timeout(Some(Duration::from_secs(20)));
        let builder = if self.config.starttls {
            let tls = TlsParameters::new(self.config.host.clone())?;
            builder.tls(Tls::Required(tls))
        } else {
            builder
        };
        Ok(builder.build())
    }

    /// Runs until `stop`: queue new mails, send what is pending, wait, again.
    pub async fn run(self, stop: CancellationToken) {
        let from: Mailbox = match self.config.from.parse() {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "mail.from is not an address; no mail is sent");
                return;
            }
        };
        let transport = match self.transport() {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "mail transport could not be set up; no mail is sent");
                return;
            }
        };
        let poll = Duration::from_millis(self.config.poll_ms.max(50));
        loop {
            if let Err(e) = self.round(&transport, &from).await {
                tracing::warn!(error = %e, "mail round failed; retrying later");
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(poll) => {}
            }
        }
    }

    async fn round(
        &self,
        transport: &AsyncSmtpTransport<Tokio1Executor>,
        from: &Mailbox,
    ) -> anyhow::Result<()> {
        let now = self.clock.now().timestamp_millis();
        let queued = outbox::enqueue_new(&self.db, &self.base_url, now).await?;
        if queued > 0 {
            tracing::info!(queued, "mails queued");
        }
        for mail in outbox::pending(&self.db, 50).await? {
            let message = match build(&mail, from) {
                Ok(m) => m,
                Err(e) => {
                    // A recipient address that does not parse never will: keep it, marked.
                    outbox::mark_failed(&self.db, &mail.id, &e).await?;
                    continue;
                }
            };
            let sent = (|| async { transport.send(message.clone()).await })
                .retry(
                    ExponentialBuilder::default()
                        .with_min_delay(Duration::from_millis(200))
                        .with_max_times(3),
                )
                .await;
            match sent {
                Ok(_) => {
                    outbox::mark_sent(&self.db, &mail.id, self.clock.now().timestamp_millis())
                        .await?;
                    tracing::info!(mail = %mail.id, event = "mail_sent", "mail sent");
                }
                Err(e) => {
                    tracing::warn!(mail = %mail.id, error = %e, "mail not accepted; kept in the outbox");
                    outbox::mark_failed(&self.db, &mail.id, &e.to_string()).await?;
                    // The relay is probably down: try the rest in the next round.
                    break;
                }
            }
        }
        Ok(())
    }
}

fn build(mail: &outbox::Pending, from: &Mailbox) -> Result<Message, String> {
    let to: Mailbox = mail
        .recipient
        .parse()
        .map_err(|e| format!("recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(mail.subject.clone())
        .message_id(Some(format!("<{}@verwijsindex>", mail.id)))
        .header(ContentType::TEXT_PLAIN)
        .body(mail.body.clone())
        .map_err(|e| e.to_string())
}
