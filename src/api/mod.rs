//! The HTTP control API (OPERATOR_API.md): actix-web on its own worker thread, so
//! a busy or wedged engine never stalls the operator. Handlers read the shared
//! [`StatusView`] and the kernel's registry, and send commands to the actors that
//! own the state (`portfolio_risk`, `mode`, `control`); they never hold state of
//! their own.
//!
//! By responsibility: `errors` (the contract's error shape and the body limit),
//! `limits` (time bounds, capacity and held bodies, against clients that stall
//! connections on purpose), `wire` (the contract's shape for the answers
//! actix-http writes itself), `auth` (the bearer token), `reads` (status, tree,
//! events, metrics, health), `stream` (the events as server-sent events),
//! `history` (figures sampled over time), `ui` (the dashboard's embedded
//! page) and `commands` (what changes state, through its owner actor). This
//! file holds the shared state, the bounds and the route table.

mod auth;
mod commands;
mod errors;
mod history;
mod limits;
mod reads;
mod stream;
mod ui;
mod wire;

pub use errors::ApiError;
pub use history::{spawn_sampler, History};
pub use reads::{not_ready, settled};
pub use stream::Streams;

use crate::token;
use actix_http::{HttpService, KeepAlive};
use actix_rt::net::TcpStream;
use actix_service::{
    fn_service, map_config, IntoServiceFactory, ServiceFactory, ServiceFactoryExt,
};
use actix_web::dev::{AppConfig, ServiceRequest, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::{web, App, HttpRequest};
use commodore_actors::control::{ControlActor, Lifecycle};
use commodore_actors::journal::{Journal, Store};
use commodore_actors::kernel::{Handle, Kernel};
use commodore_actors::mode::ModeActor;
use commodore_actors::risk::PortfolioRisk;
use commodore_actors::view::StatusView;
use errors::Answer;
use std::future::ready;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Request bodies above this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Events per `GET /v1/events` page: default and upper bound.
pub const DEFAULT_EVENTS_LIMIT: usize = 100;
pub const MAX_EVENTS_LIMIT: usize = 1000;
/// Reasons longer than this are refused (422): they go into the journal.
pub const MAX_REASON_CHARS: usize = 1000;
/// How long a command waits for the actor that carries it out.
pub const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the handlers use; shared by every request.
pub struct ApiState {
    pub kernel: Kernel,
    pub view: Arc<StatusView>,
    pub lifecycle: Arc<Lifecycle>,
    /// The wall clock and its reading when the daemon started: uptime is
    /// real seconds, whatever the market clock's speed.
    pub wall: commodore_actors::clock::Clock,
    pub started_wall_ms: u64,
    /// The market clock, which stamps events (and the history's samples).
    pub market: commodore_actors::clock::Clock,
    pub token: token::Token,
    pub risk: Handle<PortfolioRisk>,
    pub mode: Handle<ModeActor>,
    pub control: Handle<ControlActor>,
    pub journal_worker: Handle<Journal>,
    /// The engine ids in config order (a reload changes them).
    pub engines: Arc<std::sync::RwLock<Vec<String>>>,
    /// The configuration in force (`POST /v1/mode` names one of its tiers).
    pub live: Arc<crate::assemble::Live>,
    /// `POST /v1/config/reload`.
    pub reloader: Arc<crate::assemble::Reloader>,
    /// `Err(why)` when `POST /v1/faults` is refused by policy.
    pub faults: Result<(), String>,
    pub journal_path: PathBuf,
    /// The API's own read connection, opened on first use.
    pub journal: Mutex<Option<Store>>,
    /// `GET /v1/events/stream`s open now (bounded).
    pub streams: Streams,
    /// `GET /v1/history`: figures sampled since the start (bounded).
    pub history: History,
}

/// Starts the server on an already bound listener (bound before the tree starts,
/// so a taken port is a start-up error). A control plane, not a data plane: a
/// few worker threads, but room for hundreds of connections, each bounded in
/// time (`limits`), so stalled connections never keep an operator out.
///
/// Built as actix-web's `HttpServer::listen` builds it (actix-server, then
/// actix-http's HTTP/1 service around the App), with one difference: each
/// connection's stream is a [`wire::Shaped`], so the answers actix-http writes
/// itself (400, 408, 431) carry the contract's error shape too.
impl ApiState {
    /// The engine ids in config order, as in force now.
    pub fn engine_ids(&self) -> Vec<String> {
        self.engines
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

pub fn serve(
    state: Arc<ApiState>,
    listener: std::net::TcpListener,
) -> std::io::Result<actix_server::Server> {
    let data = web::Data::from(state);
    let connections = limits::capacity(limits::open_files_limit());
    tracing::info!(
        connections,
        workers = limits::WORKERS,
        head_timeout_s = limits::HEAD_TIMEOUT.as_secs(),
        body_timeout_s = limits::BODY_TIMEOUT.as_secs(),
        "control API limits"
    );
    let addr = listener.local_addr()?;
    let builder = actix_server::Server::build();
    let shutdown = builder.graceful_shutdown_signal();
    let factory = move || {
        let shutdown = shutdown.clone();
        let h1 = HttpService::build()
            .graceful_shutdown_signal(move || {
                let signal = shutdown.clone();
                async move { signal.notified().await }
            })
            // One request per connection: actix-http times only a connection's
            // first head, so a kept-alive connection could send its next one
            // forever.
            .keep_alive(KeepAlive::Disabled)
            .client_request_timeout(limits::HEAD_TIMEOUT)
            .client_disconnect_timeout(limits::DISCONNECT_TIMEOUT)
            .local_addr(addr)
            .h1(map_config(
                app(data.clone())
                    .into_factory()
                    .map_err(|e: actix_web::Error| e.error_response()),
                // It carries the host and local address for URL generation and
                // `ConnectionInfo`, which the API does not use; actix-web keeps
                // the constructor that takes `addr` to itself, so the default
                // stands in.
                |_| AppConfig::default(),
            ));
        fn_service(|io: TcpStream| {
            let peer = io.peer_addr().ok();
            ready(Ok((wire::Shaped::new(io), peer)))
        })
        .and_then(h1)
    };
    Ok(builder
        .workers(limits::WORKERS)
        // Per worker.
        .max_concurrent_connections(connections.div_ceil(limits::WORKERS))
        .disable_signals()
        .shutdown_timeout(2)
        .listen("commodore-api", listener, factory)?
        .run())
}

/// The App: shared state, the body-holding middleware and the route table.
fn app(
    data: web::Data<ApiState>,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<limits::Holding>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(data)
        .wrap_fn(limits::hold_body)
        .service(resource("/healthz").route(web::get().to(reads::healthz)))
        .service(resource("/readyz").route(web::get().to(reads::readyz)))
        .service(resource("/metrics").route(web::get().to(reads::metrics_text)))
        .service(resource("/v1/status").route(web::get().to(reads::status)))
        .service(resource("/v1/tree").route(web::get().to(reads::tree)))
        .service(resource("/v1/events").route(web::get().to(reads::events)))
        .service(resource("/v1/events/stream").route(web::get().to(stream::events_stream)))
        .service(resource("/v1/history").route(web::get().to(history::history)))
        .service(resource("/ui").route(web::get().to(ui::page)))
        .service(resource("/ui/").route(web::get().to(ui::page)))
        .service(resource("/ui/app.js").route(web::get().to(ui::script)))
        .service(resource("/ui/style.css").route(web::get().to(ui::style)))
        .service(resource("/v1/engines/{id}/pause").route(web::post().to(commands::pause)))
        .service(resource("/v1/engines/{id}/flatten").route(web::post().to(commands::flatten)))
        .service(resource("/v1/engines/{id}/resume").route(web::post().to(commands::resume)))
        .service(resource("/v1/engines/{id}/stop").route(web::post().to(commands::stop)))
        .service(resource("/v1/engines/{id}/start").route(web::post().to(commands::start)))
        .service(resource("/v1/risk/escalate").route(web::post().to(commands::escalate)))
        .service(resource("/v1/risk/reset").route(web::post().to(commands::reset)))
        .service(resource("/v1/mode").route(web::post().to(commands::mode)))
        .service(resource("/v1/faults").route(web::post().to(commands::faults)))
        .service(resource("/v1/shutdown").route(web::post().to(commands::shutdown)))
        .service(resource("/v1/config/reload").route(web::post().to(commands::reload)))
        .default_service(web::to(unknown_route))
}

/// A path of the API; another method on it answers 405 in the contract's shape.
fn resource(path: &str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(method_not_allowed))
}

async fn method_not_allowed(req: HttpRequest) -> Answer {
    Err(ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "{} is not allowed on {}; see docs/API.md",
            req.method(),
            req.path()
        ),
    ))
}

async fn unknown_route(req: HttpRequest) -> Answer {
    Err(ApiError::not_found(format!(
        "no endpoint {} {}; see docs/API.md",
        req.method(),
        req.path()
    )))
}
