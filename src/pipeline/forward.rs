//! Stages 3 and 6–8 for model calls: read the requested model, resolve it into a plan of targets
//! (an alias's targets in its strategy's order, then its fallbacks, then the request's own), and
//! run attempts down the plan (keys rotated, retries with backoff, key cooldown) until one
//! answers. Same format on both sides: the caller's body goes upstream as bytes with only
//! `model` spliced; otherwise `translated` decodes it once and encodes it per attempt.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use super::relay;
use super::resolve::{Resolved, Target};
use super::routes::{self, GeminiAction, Inbound};
use super::translated::{self, ErrorAnswer, Prepared, Upstream};
use super::RequestCtx;
use crate::error::{ApiFormat, ErrorKind, GatewayError};
use crate::http::write;
use crate::json_scan::{self, FieldError, RequestFields};
use crate::metrics::RequestRecord;
use crate::providers::{Operation, Provider, ProviderKey, WireFormat};
use crate::routing::retry::{self, Action, Outcome};
use crate::server::conn::ClientConn;
use crate::server::shard::Shard;
use crate::upstream::exchange;

/// Longest model name accepted.
const MAX_MODEL_NAME: usize = 256;
/// Most targets one request may be tried on (alias targets, fallbacks, request fallbacks).
const MAX_PLAN: usize = 16;
/// Most keys one request may try on one target.
const MAX_KEYS_TRIED: usize = 16;
/// Longest total time for a request when neither `x-shardgate-timeout-ms` nor anything else
/// bounds it (a day: deadline arithmetic stays far from overflow).
const NO_DEADLINE: Duration = Duration::from_secs(86_400);

/// The routing decision for one attempt.
pub struct Routed<'g> {
    /// The provider's index in the gateway.
    pub index: usize,
    /// The provider.
    pub provider: &'g Provider,
    /// The key chosen.
    pub key: &'g ProviderKey,
    /// The model as the provider names it.
    pub model: &'g str,
}

/// The targets a request may go to, in order, without allocating.
struct Plan<'g> {
    items: [Target<'g>; MAX_PLAN],
    len: usize,
}

impl<'g> Plan<'g> {
    fn new() -> Self {
        Plan {
            items: [Target {
                provider: usize::MAX,
                model: "",
            }; MAX_PLAN],
            len: 0,
        }
    }

    /// Appends `t` unless it is already planned or the plan is full.
    fn push(&mut self, t: Target<'g>) {
        if self.len < MAX_PLAN && !self.items[..self.len].contains(&t) {
            self.items[self.len] = t;
            self.len += 1;
        }
    }

    fn targets(&self) -> &[Target<'g>] {
        &self.items[..self.len]
    }
}

/// Why the last attempt on a target failed, kept to answer the caller when every attempt fails.
enum Failure {
    /// The provider answered with an error status.
    Answered(ErrorAnswer),
    /// No answer (connect, timeout, protocol), or the gateway could not try (no key, circuit open,
    /// a feature the target cannot honour).
    Gateway(GatewayError),
}

/// What one attempt came to.
enum AttemptResult {
    /// The caller has its answer (a success, or an error retrying cannot fix).
    Answered { status: u16, keep: bool },
    /// This attempt failed; `Action` says what to do next.
    Failed(Failure, Action, Option<Duration>),
}

/// Proxies one model call; returns whether the caller's connection stays usable.
pub async fn proxy(
    shard: &Shard,
    conn: &mut ClientConn,
    body: Bytes,
    inbound: Inbound,
    ctx: &mut RequestCtx,
) -> bool {
    let gateway = shard.gateway();
    let mut fields = match json_scan::scan_request(&body) {
        Ok(f) => f,
        Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
    };
    // A `fallbacks` array in an OpenAI-format body is the gateway's, not the provider's: read it
    // and take it out (an opt-in feature, so the copy is only paid by those who use it).
    let mut body_fallbacks: Vec<String> = Vec::new();
    let body = match (inbound, fields.fallbacks.clone()) {
        (Inbound::OpenAi(_), Some(span)) => {
            // The member is `"fallbacks": [...]`: its value follows the first colon.
            let value = body
                .get(span.clone())
                .and_then(|m| m.splitn(2, |&b| b == b':').nth(1))
                .unwrap_or_default();
            match serde_json::from_slice::<Vec<String>>(value) {
                Ok(names) => body_fallbacks = names,
                Err(_) => {
                    let err = GatewayError::new(
                        ErrorKind::InvalidField,
                        "\"fallbacks\" must be an array of model names",
                    );
                    return super::finish_error(shard, conn, ctx, &err).await;
                }
            }
            let stripped = Bytes::from(json_scan::remove_member(&body, span));
            match json_scan::scan_request(&stripped) {
                Ok(f) => fields = f,
                Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
            }
            stripped
        }
        _ => body,
    };
    let mut unescaped = String::new();
    let requested = match inbound {
        Inbound::Gemini(_) => {
            let raw = routes::gemini_model(conn.head.path()).map(|(m, _)| m);
            match raw.and_then(|m| percent_decode(m, &mut unescaped)) {
                Some(()) => unescaped.as_str(),
                None => {
                    let err = GatewayError::new(
                        ErrorKind::InvalidField,
                        "the model in the path is not valid percent-encoded UTF-8",
                    );
                    return super::finish_error(shard, conn, ctx, &err).await;
                }
            }
        }
        _ => match json_scan::model_str(&body, &fields, &mut unescaped) {
            Ok(m) => m,
            Err(e) => return super::finish_error(shard, conn, ctx, &field_error(e)).await,
        },
    };
    if let Err(err) = check_model_name(requested) {
        return super::finish_error(shard, conn, ctx, &err).await;
    }
    let header_fallbacks = conn
        .head
        .header(b"x-shardgate-fallbacks")
        .map(|v| String::from_utf8_lossy(v).into_owned());
    let deadline = Instant::now()
        + conn
            .head
            .header(b"x-shardgate-timeout-ms")
            .and_then(|v| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok())
            .map_or(NO_DEADLINE, |ms| {
                Duration::from_millis(ms.max(1)).min(NO_DEADLINE)
            });

    // Routing rules may send the request elsewhere (checked only when there are rules).
    let mut rule_name = None;
    let routed_name = if gateway.rules.is_empty() {
        requested
    } else {
        match gateway
            .rules
            .route(requested, |n| conn.head.header(n), &body)
        {
            Some(m) => {
                rule_name = Some(m.name);
                let mut rng = shard.rng.borrow_mut();
                m.target.pick(&mut rng)
            }
            None => requested,
        }
    };
    if let Some(rule) = rule_name {
        tracing::debug!(
            rule,
            from = requested,
            to = routed_name,
            "routing rule matched"
        );
    }
    // The plan: the requested name, then the alias's fallbacks, then the request's.
    let mut plan = Plan::new();
    let primary = match gateway.models.lookup(routed_name) {
        Ok(r) => r,
        Err(e) => return super::finish_error(shard, conn, ctx, &e).await,
    };
    let mut alias_fallbacks: &[String] = &[];
    push_resolved(shard, &gateway.kinds, &mut plan, primary);
    if let Resolved::Alias(alias) = primary {
        alias_fallbacks = &alias.fallbacks;
    }
    let extra = alias_fallbacks
        .iter()
        .map(String::as_str)
        .chain(body_fallbacks.iter().map(String::as_str))
        .chain(
            header_fallbacks
                .as_deref()
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty()),
        );
    for name in extra {
        match gateway.models.lookup(name) {
            Ok(r) => push_resolved(shard, &gateway.kinds, &mut plan, r),
            Err(e) => return super::finish_error(shard, conn, ctx, &e).await,
        }
    }

    let mut prepared: Option<Prepared> = None;
    let mut primary_failure: Option<Failure> = None;
    let mut last_failure: Option<Failure> = None;
    let mut last_target: Option<Target<'_>> = None;
    for (plan_index, &target) in plan.targets().iter().enumerate() {
        let Some(provider) = gateway.providers.get(target.provider) else {
            continue;
        };
        if plan_index > 0 && ctx.attempts > 0 {
            shard.metrics.borrow_mut().count_fallback();
        }
        // Keys that failed for key-level reasons (429, 401/403) are never used again by this
        // request; keys that met a transient failure are avoided while others remain.
        let mut banned = [usize::MAX; MAX_KEYS_TRIED];
        let mut banned_len = 0;
        let mut used = [usize::MAX; MAX_KEYS_TRIED];
        let mut used_len = 0;
        let mut same_key_retry: Option<usize> = None;
        let mut tries = 0u32;
        let target_started = Instant::now();
        let policy = provider.retry_policy();
        let target_failure = loop {
            if tries >= provider.retry.max_attempts
                || Instant::now() >= deadline
                || (tries > 0
                    && !policy.within_deadline(target_started, Instant::now(), Duration::ZERO))
            {
                break None;
            }
            let now = Instant::now();
            let admitted = shard
                .routing
                .borrow_mut()
                .admit(target.provider, target.model, now);
            let Some(admission) = admitted else {
                break Some(Failure::Gateway(GatewayError::new(
                    ErrorKind::UpstreamConnect,
                    format!(
                        "provider '{}' model '{}' is failing: its circuit breaker is open",
                        provider.name, target.model
                    ),
                )));
            };
            let key_index = match same_key_retry.take() {
                Some(k) => Some(k),
                None => {
                    let mut avoid = [usize::MAX; 2 * MAX_KEYS_TRIED];
                    avoid[..banned_len].copy_from_slice(&banned[..banned_len]);
                    avoid[banned_len..banned_len + used_len].copy_from_slice(&used[..used_len]);
                    let mut rng = shard.rng.borrow_mut();
                    let routing = shard.routing.borrow();
                    let pick = |avoid: &[usize], rng: &mut fastrand::Rng| {
                        routing.pick_key(provider, target.provider, target.model, now, avoid, rng)
                    };
                    pick(&avoid[..banned_len + used_len], &mut rng).or_else(|| {
                        (used_len > 0)
                            .then(|| pick(&banned[..banned_len], &mut rng))
                            .flatten()
                    })
                }
            };
            let key = key_index.and_then(|k| Some((k, provider.key(k)?)));
            let Some((key_index, key)) = key else {
                shard.routing.borrow_mut().finished(
                    target.provider,
                    target.model,
                    admission,
                    now,
                    Duration::ZERO,
                    None,
                );
                // Out of keys: the target's last real failure (if any) is what counts.
                break if last_failure.is_some() {
                    None
                } else {
                    Some(Failure::Gateway(no_key(provider, target.model)))
                };
            };
            let routed = Routed {
                index: target.provider,
                provider,
                key,
                model: target.model,
            };
            if tries > 0 {
                shard.metrics.borrow_mut().count_retry();
            }
            tries += 1;
            ctx.attempts += 1;
            last_target = Some(target);
            let started = Instant::now();
            let result = attempt(
                shard,
                &gateway,
                conn,
                &body,
                &fields,
                requested,
                inbound,
                &mut prepared,
                &routed,
                ctx,
                deadline,
            )
            .await;
            // Only outcomes that say something about the target move its health: key-level
            // answers (401/403/429), caller errors and refusals before sending do not.
            let verdict = match &result {
                AttemptResult::Answered { status, .. } => (*status < 500).then_some(true),
                AttemptResult::Failed(_, action, _) => match action {
                    Action::RetrySameKeyThenOthers => Some(false),
                    Action::NextTarget => match &result {
                        AttemptResult::Failed(Failure::Gateway(e), ..)
                            if e.kind == ErrorKind::InvalidField
                                || e.kind == ErrorKind::NoUsableKey =>
                        {
                            None
                        }
                        _ => Some(false),
                    },
                    _ => None,
                },
            };
            shard.routing.borrow_mut().finished(
                target.provider,
                target.model,
                admission,
                Instant::now(),
                started.elapsed(),
                verdict,
            );
            let (failure, action, retry_after) = match result {
                AttemptResult::Answered { status, keep } => {
                    record(shard, ctx, &routed, status, ctx.upstream_wait);
                    return keep;
                }
                AttemptResult::Failed(f, a, r) => (f, a, r),
            };
            log_attempt(ctx, &routed, &failure);
            let now = Instant::now();
            match action {
                Action::SwitchKeyAndCoolDown => {
                    let rest =
                        retry_after.unwrap_or(Duration::from_millis(provider.retry.cooldown_ms));
                    shard
                        .routing
                        .borrow_mut()
                        .cool_down(target.provider, key_index, now + rest);
                }
                Action::DisableKeyAndSwitch => {
                    if shard
                        .routing
                        .borrow_mut()
                        .disable(target.provider, key_index)
                    {
                        tracing::warn!(
                            provider = %provider.name,
                            key = key_index,
                            "key refused by the provider; disabled on this shard until reload"
                        );
                    }
                }
                Action::RetrySameKeyThenOthers => {
                    // A transient failure: the same key once more (after a pause), then others.
                    if tries == 1 {
                        same_key_retry = Some(key_index);
                    }
                    let pause = {
                        let mut rng = shard.rng.borrow_mut();
                        retry::backoff(tries, &policy, &mut rng)
                    };
                    let pause = pause.min(deadline.saturating_duration_since(now));
                    if !pause.is_zero() {
                        monoio::time::sleep(pause).await;
                    }
                }
                Action::NextTarget | Action::ReturnToCaller | Action::Done => {
                    break Some(failure);
                }
            }
            match action {
                Action::SwitchKeyAndCoolDown | Action::DisableKeyAndSwitch
                    if banned_len < MAX_KEYS_TRIED =>
                {
                    banned[banned_len] = key_index;
                    banned_len += 1;
                }
                _ if same_key_retry.is_none()
                    && used_len < MAX_KEYS_TRIED
                    && !used[..used_len].contains(&key_index) =>
                {
                    used[used_len] = key_index;
                    used_len += 1;
                }
                _ => {}
            }
            last_failure = Some(failure);
        };
        let failure = target_failure.or(last_failure.take());
        if plan_index == 0 {
            primary_failure = failure;
        } else if failure.is_some() {
            last_failure = failure;
        }
    }
    // Every attempt failed: the caller gets the primary target's error, in its own format.
    let failure = primary_failure.or(last_failure).unwrap_or_else(|| {
        Failure::Gateway(GatewayError::new(
            ErrorKind::UpstreamTimeout,
            "the request's deadline passed before any provider could be tried",
        ))
    });
    let target = last_target.or(plan.targets().first().copied());
    let routed = target.and_then(|t| {
        let provider = gateway.providers.get(t.provider)?;
        Some(Routed {
            index: t.provider,
            provider,
            key: provider.key(0).unwrap_or(&NO_KEY),
            model: t.model,
        })
    });
    let Some(routed) = routed else {
        let err = GatewayError::new(ErrorKind::Internal, "no target was planned");
        return super::finish_error(shard, conn, ctx, &err).await;
    };
    let (status, ok) = match &failure {
        Failure::Answered(answer) => {
            let same = same_format(inbound, answer.wire);
            let ok =
                translated::respond_error_answer(conn, answer, same, inbound, &routed, ctx).await;
            (answer.status, ok)
        }
        Failure::Gateway(err) => {
            let ok = translated::respond_gateway_error(conn, err, &routed, ctx).await;
            (err.status(), ok)
        }
    };
    record(shard, ctx, &routed, status, ctx.upstream_wait);
    ok && ctx.keep_alive
}

/// Adds a resolved name's targets to the plan: an alias's in its strategy's order.
fn push_resolved<'g>(
    shard: &Shard,
    kinds: &[crate::config::ProviderKind],
    plan: &mut Plan<'g>,
    resolved: Resolved<'g>,
) {
    match resolved {
        Resolved::Direct(t) => plan.push(t),
        Resolved::Alias(alias) => {
            let mut order = [0usize; MAX_PLAN];
            let n = {
                let mut rng = shard.rng.borrow_mut();
                shard.routing.borrow_mut().order(
                    alias,
                    crate::routing::prices::PriceTable::builtin(),
                    kinds,
                    Instant::now(),
                    &mut rng,
                    &mut order,
                )
            };
            for &i in &order[..n] {
                if let Some(t) = alias.targets.get(i) {
                    plan.push(Target {
                        provider: t.provider,
                        model: &t.model,
                    });
                }
            }
        }
    }
}

/// Runs one attempt on `routed`: writes the request (passthrough or translated), reads the head,
/// and either answers the caller or returns the failure for the loop to act on.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    shard: &Shard,
    gateway: &crate::gateway::Gateway,
    conn: &mut ClientConn,
    body: &Bytes,
    fields: &RequestFields,
    requested: &str,
    inbound: Inbound,
    prepared: &mut Option<Prepared>,
    routed: &Routed<'_>,
    ctx: &mut RequestCtx,
    deadline: Instant,
) -> AttemptResult {
    let provider = routed.provider;
    let wire = provider.format(routed.model);
    let same = same_format(inbound, wire);
    let op = operation(inbound, fields.stream);
    // The provider's own limit on one attempt, body included, within the request's.
    let deadline = provider
        .total_timeout
        .map_or(deadline, |t| deadline.min(Instant::now() + t));
    // The request bytes, in `conn.wbuf`.
    let built = if same && provider.api.passthrough_body(routed.model) {
        write_passthrough(conn, body, fields, requested, inbound, op, routed, ctx)
    } else if same {
        adapt_body(body, op, routed, ctx).map(|r| conn.wbuf = r)
    } else {
        if prepared.is_none() {
            match Prepared::decode(body, inbound) {
                Ok(p) => *prepared = Some(p),
                // The caller's request is wrong whatever the target: answer at once.
                Err(err) => return answer_now(conn, &err, routed, ctx).await,
            }
        }
        let Some(p) = prepared.as_mut() else {
            return answer_now(
                conn,
                &GatewayError::new(ErrorKind::Internal, "no request"),
                routed,
                ctx,
            )
            .await;
        };
        match p.upstream(routed) {
            Ok(Upstream::Send(op, value)) => {
                translated::build_request(routed, op, &value, ctx).map(|r| conn.wbuf = r)
            }
            Ok(Upstream::Estimate(tokens)) => {
                let ok = translated::respond_estimate(conn, tokens, inbound, routed, ctx).await;
                return AttemptResult::Answered {
                    status: 200,
                    keep: ok && ctx.keep_alive,
                };
            }
            Err(err) => Err(err),
        }
    };
    if let Err(err) = built {
        // This target cannot take the request (a feature it cannot honour, an operation it does
        // not offer): another target may.
        return AttemptResult::Failed(Failure::Gateway(err), Action::NextTarget, None);
    }

    // `routed.index` belongs to `gateway` (the configuration this request started with): the
    // exchange and the pool check-in use that same one even if a reload happened meanwhile.
    let head_deadline = (Instant::now() + provider.first_byte_timeout).min(deadline);
    let request = std::mem::take(&mut conn.wbuf);
    let mut waited = Duration::ZERO;
    let (started, request) = exchange::start(
        shard,
        gateway,
        routed.index,
        request,
        head_deadline,
        &mut waited,
    )
    .await;
    conn.wbuf = request;
    conn.wbuf.clear();
    ctx.upstream_wait += waited;
    // Draining may have begun while the provider was thinking: announce the close.
    ctx.keep_alive &= !shard.draining();
    let mut up = match started {
        Ok(up) => up,
        Err(err) => {
            let outcome = match err.kind {
                ErrorKind::UpstreamTimeout => Outcome::Timeout,
                ErrorKind::UpstreamConnect => Outcome::Connect,
                _ => Outcome::Protocol,
            };
            return AttemptResult::Failed(Failure::Gateway(err), retry::classify(outcome), None);
        }
    };
    let status = up.head.status;
    let action = retry::classify(Outcome::Status(status));
    let mut waited = Duration::ZERO;
    let (status, keep, reusable) = match action {
        Action::Done if same => {
            let meta = translated::meta(routed, ctx);
            let outcome = relay::relay(
                conn,
                &mut up,
                provider,
                &meta,
                ctx.format,
                ctx.keep_alive,
                deadline,
                &mut waited,
            )
            .await;
            (
                outcome.status,
                outcome.client_keep_alive,
                outcome.upstream_reusable,
            )
        }
        Action::Done => {
            let Some(p) = prepared.as_ref() else {
                return answer_now(
                    conn,
                    &GatewayError::new(ErrorKind::Internal, "no request"),
                    routed,
                    ctx,
                )
                .await;
            };
            translated::respond_success(
                conn,
                &mut up,
                p,
                inbound,
                routed,
                ctx,
                deadline,
                &mut waited,
            )
            .await
        }
        Action::ReturnToCaller => {
            let (answer, reusable) =
                translated::read_error(&mut up, routed, deadline, &mut waited).await;
            let ok =
                translated::respond_error_answer(conn, &answer, same, inbound, routed, ctx).await;
            (answer.status, ok && ctx.keep_alive, reusable)
        }
        Action::RetrySameKeyThenOthers
        | Action::SwitchKeyAndCoolDown
        | Action::DisableKeyAndSwitch
        | Action::NextTarget => {
            let (answer, reusable) =
                translated::read_error(&mut up, routed, deadline, &mut waited).await;
            ctx.upstream_wait += waited;
            if reusable {
                shard
                    .pool
                    .checkin(gateway.generation, routed.index, up, provider.pool_max_idle);
            }
            let retry_after = answer
                .retry_after
                .as_deref()
                .and_then(|v| retry::parse_retry_after(v, crate::translate::now_secs()));
            return AttemptResult::Failed(Failure::Answered(answer), action, retry_after);
        }
    };
    ctx.upstream_wait += waited;
    if reusable {
        shard
            .pool
            .checkin(gateway.generation, routed.index, up, provider.pool_max_idle);
    }
    AttemptResult::Answered { status, keep }
}

/// Answers the caller with a gateway error that no other target can fix.
async fn answer_now(
    conn: &mut ClientConn,
    err: &GatewayError,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> AttemptResult {
    let ok = translated::respond_gateway_error(conn, err, routed, ctx).await;
    AttemptResult::Answered {
        status: err.status(),
        keep: ok && ctx.keep_alive,
    }
}

/// The upstream operation of a same-format call.
fn operation(inbound: Inbound, stream: bool) -> Operation {
    match inbound {
        Inbound::OpenAi(e) => Operation::OpenAi(e),
        Inbound::AnthropicMessages => Operation::Chat { stream },
        Inbound::AnthropicCountTokens | Inbound::Gemini(GeminiAction::CountTokens) => {
            Operation::CountTokens
        }
        Inbound::Gemini(GeminiAction::Generate) => Operation::Chat { stream: false },
        Inbound::Gemini(GeminiAction::Stream) => Operation::Chat { stream: true },
    }
}

/// Whether the caller's API is the provider's wire format.
fn same_format(inbound: Inbound, wire: WireFormat) -> bool {
    matches!(
        (inbound.format(), wire),
        (ApiFormat::OpenAi, WireFormat::OpenAi)
            | (ApiFormat::Anthropic, WireFormat::Anthropic)
            | (ApiFormat::Gemini, WireFormat::Gemini)
    )
}

/// Writes a same-format request into `conn.wbuf`: the provider's head, then the caller's body
/// with the model value replaced (Gemini bodies carry no model: it is in the URL).
#[allow(clippy::too_many_arguments)]
fn write_passthrough(
    conn: &mut ClientConn,
    body: &Bytes,
    fields: &RequestFields,
    requested: &str,
    inbound: Inbound,
    op: Operation,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> Result<(), GatewayError> {
    let provider = routed.provider;
    let model = routed.model;
    let model_span = if matches!(inbound, Inbound::Gemini(_)) {
        None
    } else {
        fields.model.clone()
    };
    let wbuf = &mut conn.wbuf;
    wbuf.clear();
    wbuf.extend_from_slice(b"POST ");
    if provider
        .api
        .write_target(provider, op, model, wbuf)
        .is_none()
    {
        return Err(unsupported_operation(provider));
    }
    if matches!(inbound, Inbound::Gemini(_)) {
        // Keep the caller's query (everything but a key in the URL) for same-format Gemini calls.
        copy_gemini_query(conn.head.target(), wbuf);
    }
    wbuf.extend_from_slice(b" HTTP/1.1\r\n");
    wbuf.extend_from_slice(&provider.fixed_headers);
    provider
        .api
        .write_auth(provider, routed.key, &[], body, wbuf)
        .map_err(|e| GatewayError::new(ErrorKind::NoUsableKey, e))?;
    // The body was validated as JSON, whatever label the caller put on it.
    write::header(wbuf, b"content-type", b"application/json");
    // Headers the caller named in `Connection` are hop-by-hop too (RFC 9110 §7.6.1).
    let connection = conn.head.header(b"connection");
    for (name, value) in conn.head.headers() {
        let listed = connection.is_some_and(|c| crate::http::has_token(c, name));
        if !listed && !is_hop_or_credential(name) {
            write::header(wbuf, name, value);
        }
    }
    write::header(wbuf, b"x-request-id", ctx.id.as_bytes());
    match model_span {
        None => {
            write::header_u64(wbuf, b"content-length", body.len() as u64);
            wbuf.extend_from_slice(b"\r\n");
            wbuf.extend_from_slice(body);
        }
        Some(_) if requested == model && !fields.model_escaped => {
            write::header_u64(wbuf, b"content-length", body.len() as u64);
            wbuf.extend_from_slice(b"\r\n");
            wbuf.extend_from_slice(body);
        }
        Some(span) => match plain_literal_len(model) {
            Some(literal_len) => {
                let len = body.len() - span.len() + literal_len;
                write::header_u64(wbuf, b"content-length", len as u64);
                wbuf.extend_from_slice(b"\r\n");
                json_scan::splice_string(body, span, model, wbuf);
            }
            None => {
                // A model name that needs JSON escaping: splice first to learn the length.
                let mut spliced = std::mem::take(&mut conn.scratch);
                spliced.clear();
                json_scan::splice_string(body, span, model, &mut spliced);
                let wbuf = &mut conn.wbuf;
                write::header_u64(wbuf, b"content-length", spliced.len() as u64);
                wbuf.extend_from_slice(b"\r\n");
                wbuf.extend_from_slice(&spliced);
                spliced.clear();
                conn.scratch = spliced;
            }
        },
    }
    Ok(())
}

/// A same-format request whose body the provider needs changed (Vertex's Claude): parsed,
/// adapted and re-serialized.
fn adapt_body(
    body: &Bytes,
    op: Operation,
    routed: &Routed<'_>,
    ctx: &RequestCtx,
) -> Result<BytesMut, GatewayError> {
    let mut value = crate::translate::parse_json(body)
        .map_err(|e| GatewayError::new(ErrorKind::InvalidJson, e))?;
    if let Some(obj) = value.as_object_mut() {
        if obj.contains_key("model") {
            obj.insert(
                "model".into(),
                serde_json::Value::String(routed.model.to_string()),
            );
        }
    }
    routed
        .provider
        .api
        .adapt_request(routed.model, op, &mut value);
    translated::build_request(routed, op, &value, ctx)
}

/// The key used when none applies (keyless providers, answers made without an attempt).
static NO_KEY: ProviderKey = ProviderKey {
    auth_line: Bytes::new(),
    secret: String::new(),
    weight: 1,
    models: Vec::new(),
};

fn no_key(provider: &Provider, model: &str) -> GatewayError {
    GatewayError::new(
        ErrorKind::NoUsableKey,
        format!(
            "no key of provider '{}' may serve model '{model}' now (none allowed, or all cooling down or refused)",
            provider.name
        ),
    )
}

/// Refuses names that could split a header or smuggle a path, and bounds their length (they
/// end up in response headers, upstream URLs and metric labels).
fn check_model_name(requested: &str) -> Result<(), GatewayError> {
    if requested.is_empty()
        || requested.len() > MAX_MODEL_NAME
        || requested.bytes().any(|b| b < 0x21 || b == 0x7f)
    {
        return Err(GatewayError::new(
            ErrorKind::InvalidField,
            format!("\"model\" must be 1 to {MAX_MODEL_NAME} visible characters without spaces"),
        ));
    }
    Ok(())
}

/// Records one proxied request.
pub fn record(shard: &Shard, ctx: &RequestCtx, routed: &Routed<'_>, status: u16, waited: Duration) {
    shard.metrics.borrow_mut().record(&RequestRecord {
        route: ctx.route,
        provider: Some(&routed.provider.name),
        model: Some(routed.model),
        status,
        total: ctx.received.elapsed(),
        upstream: waited,
        proxied: true,
    });
}

/// Logs a failed upstream call.
pub fn log_failure(ctx: &RequestCtx, provider: &Provider, err: &GatewayError) {
    tracing::warn!(
        request_id = %String::from_utf8_lossy(ctx.id.as_bytes()),
        provider = %provider.name,
        "upstream failed: {err}"
    );
}

/// One log line per failed attempt.
fn log_attempt(ctx: &RequestCtx, routed: &Routed<'_>, failure: &Failure) {
    let id = String::from_utf8_lossy(ctx.id.as_bytes());
    match failure {
        Failure::Answered(a) => tracing::warn!(
            request_id = %id,
            provider = %routed.provider.name,
            model = routed.model,
            attempt = ctx.attempts,
            status = a.status,
            "attempt failed: the provider answered {}", a.status
        ),
        Failure::Gateway(e) => tracing::warn!(
            request_id = %id,
            provider = %routed.provider.name,
            model = routed.model,
            attempt = ctx.attempts,
            "attempt failed: {e}"
        ),
    }
}

/// The error for an operation the provider does not offer.
pub fn unsupported_operation(provider: &Provider) -> GatewayError {
    GatewayError::new(
        ErrorKind::InvalidField,
        format!(
            "provider '{}' ({}) does not offer this operation",
            provider.name, provider.kind
        ),
    )
}

/// Maps a body-scan failure to the caller's error.
pub fn field_error(e: FieldError) -> GatewayError {
    match e {
        FieldError::Json(e) => GatewayError::new(ErrorKind::InvalidJson, e.to_string()),
        FieldError::MissingModel => GatewayError::new(ErrorKind::MissingModel, e.to_string()),
        other => GatewayError::new(ErrorKind::InvalidField, other.to_string()),
    }
}

/// Decodes `%XX` escapes of a path segment into `out`; `None` when malformed or not UTF-8.
fn percent_decode(raw: &[u8], out: &mut String) -> Option<()> {
    let mut bytes = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let s = std::str::from_utf8(hex).ok()?;
            bytes.push(u8::from_str_radix(s, 16).ok()?);
            i += 3;
        } else {
            bytes.push(raw[i]);
            i += 1;
        }
    }
    out.clear();
    out.push_str(&String::from_utf8(bytes).ok()?);
    Some(())
}

/// Appends the caller's query parameters other than `key` (the caller's credential) and `alt`
/// (the provider target sets it for streams).
fn copy_gemini_query(target: &[u8], out: &mut BytesMut) {
    let Some(q) = memchr::memchr(b'?', target) else {
        return;
    };
    let has_query = memchr::memchr(b'?', out).is_some();
    let mut first = !has_query;
    let mut decoded = String::new();
    for pair in target[q + 1..].split(|&b| b == b'&') {
        let name = pair.split(|&b| b == b'=').next().unwrap_or_default();
        // Compare the decoded name (`%6Bey` is `key` too); undecodable names are dropped.
        if pair.is_empty()
            || percent_decode(name, &mut decoded).is_none()
            || decoded == "key"
            || decoded == "alt"
        {
            continue;
        }
        out.extend_from_slice(if first { b"?" } else { b"&" });
        first = false;
        out.extend_from_slice(pair);
    }
}

/// The length of `s` as a JSON string literal when it needs no escaping (the usual model name).
fn plain_literal_len(s: &str) -> Option<usize> {
    s.bytes()
        .all(|b| (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\')
        .then_some(s.len() + 2)
}

/// Request headers never forwarded: hop-by-hop headers, framing the gateway rewrites, the
/// caller's credentials (the provider gets the gateway's key), the API version the provider
/// adapter writes itself, and the gateway's own controls.
fn is_hop_or_credential(name: &[u8]) -> bool {
    let eq = |s: &[u8]| name.eq_ignore_ascii_case(s);
    let listed = match name.len() {
        2 => eq(b"te"),
        4 => eq(b"host"),
        6 => eq(b"cookie") || eq(b"expect"),
        7 => eq(b"api-key") || eq(b"trailer") || eq(b"upgrade"),
        9 => eq(b"x-api-key"),
        10 => eq(b"connection") || eq(b"keep-alive"),
        12 => eq(b"x-request-id") || eq(b"content-type"),
        13 => eq(b"authorization"),
        14 => eq(b"content-length") || eq(b"x-goog-api-key") || eq(b"openai-project"),
        15 => eq(b"accept-encoding"),
        16 => eq(b"proxy-connection"),
        17 => eq(b"transfer-encoding") || eq(b"anthropic-version"),
        19 => eq(b"proxy-authorization") || eq(b"openai-organization"),
        _ => false,
    };
    listed || (name.len() > 12 && name[..12].eq_ignore_ascii_case(b"x-shardgate-"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_and_hop_headers_are_dropped() {
        for h in [
            "Authorization",
            "x-api-key",
            "X-Goog-Api-Key",
            "api-key",
            "Connection",
            "Content-Length",
            "Transfer-Encoding",
            "Host",
            "x-shardgate-cache-mode",
            "x-shardgate-fallbacks",
            "Accept-Encoding",
            "OpenAI-Organization",
            "openai-project",
            "Content-Type",
            "anthropic-version",
        ] {
            assert!(is_hop_or_credential(h.as_bytes()), "{h} should be dropped");
        }
        for h in [
            "user-agent",
            "x-stainless-lang",
            "openai-beta",
            "accept",
            "anthropic-beta",
        ] {
            assert!(!is_hop_or_credential(h.as_bytes()), "{h} should be kept");
        }
    }

    #[test]
    fn literal_lengths() {
        assert_eq!(plain_literal_len("gpt-4o-mini"), Some(13));
        assert_eq!(plain_literal_len("a\"b"), None);
        assert_eq!(plain_literal_len("modèle"), None);
    }

    #[test]
    fn path_models_are_percent_decoded() {
        let mut s = String::new();
        assert!(percent_decode(b"openai%2Fgpt-4o", &mut s).is_some());
        assert_eq!(s, "openai/gpt-4o");
        assert!(percent_decode(b"bad%2", &mut s).is_none());
        assert!(percent_decode(b"bad%zz", &mut s).is_none());
        assert!(percent_decode(b"%ff", &mut s).is_none());
    }

    #[test]
    fn gemini_query_keeps_all_but_key_and_alt() {
        let mut out = BytesMut::from(&b"/v1beta/models/m:streamGenerateContent?alt=sse"[..]);
        copy_gemini_query(
            b"/genai/v1beta/models/m:x?alt=sse&key=SECRET&foo=1",
            &mut out,
        );
        assert_eq!(
            &out[..],
            b"/v1beta/models/m:streamGenerateContent?alt=sse&foo=1"
        );
        let mut out = BytesMut::from(&b"/m:generateContent"[..]);
        copy_gemini_query(b"/x?key=k&a=b&%6Bey=S2&%zz=1", &mut out);
        assert_eq!(&out[..], b"/m:generateContent?a=b");
    }

    #[test]
    fn plans_keep_order_and_drop_duplicates() {
        let mut plan = Plan::new();
        for (p, m) in [(0, "a"), (1, "b"), (0, "a"), (2, "c")] {
            plan.push(Target {
                provider: p,
                model: m,
            });
        }
        let got: Vec<_> = plan
            .targets()
            .iter()
            .map(|t| (t.provider, t.model))
            .collect();
        assert_eq!(got, [(0, "a"), (1, "b"), (2, "c")]);
    }
}
