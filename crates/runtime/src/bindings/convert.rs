//! Conversions between a contract version's generated types and
//! `handover_core::model` for the types every version shares unchanged.
//!
//! Each version module invokes [`shared_conversions!`] where its generated
//! `t` (types) and `log_if` (log) modules and `m` (the model) are in scope,
//! then writes only what its version changed. Pure translation: no policy,
//! no limits, no I/O.

/// The conversions of the types shared by every contract version so far.
macro_rules! shared_conversions {
    () => {
        fn kv(v: Vec<t::KeyValue>) -> Vec<(String, String)> {
            v.into_iter().map(|p| (p.key, p.value)).collect()
        }

        fn to_kv(v: &[(String, String)]) -> Vec<t::KeyValue> {
            v.iter()
                .map(|(k, v)| t::KeyValue {
                    key: k.clone(),
                    value: v.clone(),
                })
                .collect()
        }

        pub fn failure(f: t::Failure) -> m::Failure {
            m::Failure {
                reason: match f.reason {
                    t::FailureReason::Unsupported => m::FailureReason::Unsupported,
                    t::FailureReason::Error => m::FailureReason::Error,
                },
                message: f.message,
                stopped_by: None,
            }
        }

        fn agent(a: t::Agent) -> m::Agent {
            m::Agent {
                id: a.id,
                name: a.name,
            }
        }

        fn attachment(a: t::Attachment) -> m::Attachment {
            m::Attachment {
                url: a.url,
                content_type: a.content_type,
                name: a.name,
            }
        }

        fn to_attachment(a: &m::Attachment) -> t::Attachment {
            t::Attachment {
                url: a.url.clone(),
                content_type: a.content_type.clone(),
                name: a.name.clone(),
            }
        }

        pub fn ctx(c: &m::CallContext) -> t::CallContext {
            t::CallContext {
                handover_id: c.handover_id.clone(),
                settings: c.settings.clone(),
            }
        }

        pub fn conversation(c: &m::Conversation) -> t::Conversation {
            t::Conversation {
                handover_id: c.handover_id.clone(),
                session_id: c.session_id.clone(),
                user_id: c.user_id.clone(),
                channel: c.channel.clone(),
                locale: c.locale.clone(),
                user_profile: to_kv(&c.user_profile),
                transcript: c
                    .transcript
                    .iter()
                    .map(|e| t::TranscriptEntry {
                        author: match e.author {
                            m::Author::User => t::Author::User,
                            m::Author::Bot => t::Author::Bot,
                            m::Author::Agent => t::Author::Agent,
                            m::Author::System => t::Author::System,
                        },
                        text: e.text.clone(),
                        timestamp_ms: e.timestamp_ms,
                    })
                    .collect(),
                routing: t::Routing {
                    skills: c.routing.skills.clone(),
                    language: c.routing.language.clone(),
                    priority: c.routing.priority,
                    queue: c.routing.queue.clone(),
                    custom: to_kv(&c.routing.custom),
                },
                context: c.context.clone(),
            }
        }

        /// Moves the request's strings and body (a call owns its request):
        /// no copy of them per call.
        pub fn http_request(r: m::HttpRequest) -> t::HttpRequest {
            t::HttpRequest {
                method: r.method,
                path: r.path,
                headers: r
                    .headers
                    .into_iter()
                    .map(|(key, value)| t::KeyValue { key, value })
                    .collect(),
                body: r.body,
            }
        }

        pub fn webhook_route(r: t::WebhookRoute) -> m::WebhookRoute {
            m::WebhookRoute {
                response: m::HttpResponse {
                    status: r.response.status,
                    headers: kv(r.response.headers),
                    body: r.response.body,
                },
                delivery_id: r.delivery_id,
                correlation_keys: r.correlation_keys,
            }
        }

        pub fn availability(a: t::Availability) -> m::Availability {
            m::Availability {
                agents_available: a.agents_available,
                open: a.open,
                estimated_wait_seconds: a.estimated_wait_seconds,
                message: a.message,
            }
        }

        pub fn log_level(l: log_if::Level) -> m::LogLevel {
            match l {
                log_if::Level::Trace => m::LogLevel::Trace,
                log_if::Level::Debug => m::LogLevel::Debug,
                log_if::Level::Info => m::LogLevel::Info,
                log_if::Level::Warn => m::LogLevel::Warn,
                log_if::Level::Error => m::LogLevel::Error,
            }
        }

        pub fn log_fields(f: Vec<t::KeyValue>) -> Vec<(String, String)> {
            kv(f)
        }

        /// `event` is the version's own (its event variant differs).
        pub fn step(s: t::Step) -> m::Step {
            m::Step {
                state: s.state,
                events: s.events.into_iter().map(event).collect(),
                correlation_keys: s.correlation_keys,
            }
        }

        fn end_reason(r: t::EndReason) -> m::EndReason {
            match r {
                t::EndReason::AgentClosed => m::EndReason::AgentClosed,
                t::EndReason::AgentLeft => m::EndReason::AgentLeft,
                t::EndReason::ProviderClosed => m::EndReason::ProviderClosed,
                t::EndReason::NoAgentAvailable => m::EndReason::NoAgentAvailable,
                t::EndReason::Other(detail) => m::EndReason::Other { detail },
            }
        }

        fn input_kind(k: m::InputKind) -> t::InputKind {
            match k {
                m::InputKind::Text => t::InputKind::Text,
                m::InputKind::Intent => t::InputKind::Intent,
                m::InputKind::QuickReply => t::InputKind::QuickReply,
            }
        }

        fn signature(w: t::WebhookSignature) -> m::WebhookSignature {
            m::WebhookSignature {
                algorithm: match w.algorithm {
                    t::SignatureAlgorithm::HmacSha256 => m::SignatureAlgorithm::HmacSha256,
                    t::SignatureAlgorithm::HmacSha1 => m::SignatureAlgorithm::HmacSha1,
                    t::SignatureAlgorithm::HmacSha512 => m::SignatureAlgorithm::HmacSha512,
                    t::SignatureAlgorithm::SharedSecret => m::SignatureAlgorithm::SharedSecret,
                },
                header: w.header,
                encoding: match w.encoding {
                    t::SignatureEncoding::Hex => m::SignatureEncoding::Hex,
                    t::SignatureEncoding::Base64 => m::SignatureEncoding::Base64,
                },
                prefix: w.prefix,
                signed: match w.signed {
                    t::SignedContent::Body => m::SignedContent::Body,
                    t::SignedContent::TimestampThenBody(separator) => {
                        m::SignedContent::TimestampThenBody { separator }
                    }
                    t::SignedContent::UrlThenBody => m::SignedContent::UrlThenBody,
                },
                timestamp_header: w.timestamp_header,
                delivery_id_header: w.delivery_id_header,
            }
        }

        fn polling(p: t::Polling) -> m::Polling {
            m::Polling {
                mode: match p.mode {
                    t::PollMode::None => m::PollMode::None,
                    t::PollMode::Periodic => m::PollMode::Periodic,
                    t::PollMode::LongPoll => m::PollMode::LongPoll,
                },
                interval_ms: p.interval_ms,
                max_wait_ms: p.max_wait_ms,
            }
        }
    };
}

pub(crate) use shared_conversions;
