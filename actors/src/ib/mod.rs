//! Interactive Brokers, through TWS or IB Gateway (`broker.kind = "ib"`),
//! over the `ibapi` crate: one connection pool for the daemon, one
//! connection (one client id) per engine, and each engine's broker adapter
//! ([`IbBroker`], the same [`Broker`] trait as the paper broker's).
//!
//! - **The pool** ([`IbPool`]) runs its connections on a thread of its own
//!   (a tokio runtime), so a slow gateway never stalls an engine's thread.
//!   A connection outlives its engine's broker actor: a restarted actor
//!   finds its connection, its book and its pending words where they were.
//!   At most `max_connections` connections; engine `i` (in the config's
//!   order of engine ids) uses client id `client_id_base + 1 + i`.
//! - **An engine's connection** (`orders.rs`) connects, reconciles, then
//!   serves: orders to place and cancel (a bounded queue), and IB's order
//!   statuses, executions, commission reports, notices, positions and
//!   account summary into the engine's book (`book.rs`), translated both
//!   ways by `words.rs`. A lost connection is retried with a jittered
//!   exponential backoff, a hung one is caught by a heartbeat (`conn.rs`,
//!   shared with the market data connection, `bars.rs`), and every connect
//!   reconciles first.
//! - **Reconciliation by client order id**: the client order id is IB's
//!   order reference. At every connect, before answering anything, the
//!   connection asks IB for its open orders, its completed orders and its
//!   executions, and takes those whose reference is this engine's: an order
//!   IB has seen is known, never sent again; fills made while commodore was
//!   down are parts like any other (the executor journals each once).
//!   Until that is done the adapter answers "unavailable", so the
//!   executor's re-drive waits and sends nothing blind.
//! - **Pacing** (`pacing.rs`): every message to IB takes a token of one
//!   bucket the pool's connections share (`messages_per_second`, under IB's
//!   50), and market data requests are counted against
//!   `market_data_lines`.
//! - **Errors**: a connection that is down, or a full queue, is
//!   [`BrokerError::Unavailable`] (the breaker counts it); IB's refusal of
//!   an order is the order's answer, `Rejected` with IB's code and words.
//!
//! The adapter never blocks its caller: `submit` queues the order and
//! answers `Working` (IB's word comes later: the connection tells the
//! executor which orders moved, and the executor asks again at every
//! re-drive).

mod bars;
mod book;
mod conn;
pub mod contract;
mod orders;
pub mod pacing;
mod words;

pub use bars::{Five, IbBars, Minutes};
pub use book::{Book, Entry, Exec, Learned, Stage, Status, MAX_ORDERS};

use crate::clock::Clock;
use crate::engine::broker::{Broker, BrokerError, Known};
use crate::model::{Holdings, Order};
use rust_decimal::Decimal;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How many orders and cancels may wait for one connection; beyond, the
/// adapter answers "unavailable" (the breaker counts it).
pub const QUEUE: usize = 256;

/// Where IB is and how commodore talks to it (`[broker.ib]`).
#[derive(Debug, Clone, PartialEq)]
pub struct IbSettings {
    pub host: String,
    pub port: u16,
    /// The account orders go to and positions are read from.
    pub account: String,
    /// Engine `i` uses `client_id_base + 1 + i`; the market data connection
    /// `client_id_base`.
    pub client_id_base: i32,
    /// The exchange IB lists the contracts on (ICE US softs: `NYBOT`).
    pub exchange: String,
    pub max_connections: usize,
    /// Messages a second to IB, over all connections (IB's limit is 50).
    pub messages_per_second: u32,
    pub market_data_lines: u32,
    pub connect_timeout: Duration,
    /// How long IB has to answer a request (a contract, the
    /// reconciliation's lists).
    pub request_timeout: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// How often an idle connection asks IB the time: a gateway that stops
    /// answering (hung, logged out) within `request_timeout` is a fallen
    /// connection (a silent socket is otherwise never noticed).
    pub heartbeat: Duration,
}

impl IbSettings {
    /// IB Gateway's paper-trading port on this machine, and the defaults.
    pub fn local(account: &str, port: u16) -> IbSettings {
        IbSettings {
            host: "127.0.0.1".into(),
            port,
            account: account.into(),
            client_id_base: 100,
            exchange: "NYBOT".into(),
            max_connections: 8,
            messages_per_second: 40,
            market_data_lines: 100,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(10),
            backoff_min: Duration::from_millis(500),
            backoff_max: Duration::from_secs(60),
            heartbeat: Duration::from_secs(30),
        }
    }

    pub fn address(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// What one connection's state is, for operators (`GET /v1/status`, `ib`)
/// and tests.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct LinkStatus {
    pub client_id: i32,
    /// Connected and reconciled: orders go.
    pub ready: bool,
    /// Why it is not ready (the last error), empty when ready.
    pub why: String,
    /// Connections made (the first, then every reconnect).
    pub connects: u64,
    /// Orders IB refused, and messages that waited for pacing.
    pub refused: u64,
    pub paced: u64,
    /// The account summary IB last sent (an order connection): the
    /// account's net liquidation value and its cash, in its currency.
    pub net_liquidation: Option<String>,
    pub cash: Option<String>,
}

type Moved = Arc<dyn Fn(Vec<String>) + Send + Sync>;

/// One engine's connection as both sides see it: the broker actor (sync
/// reads of the book, orders queued) and the connection task (IB's words
/// written into the book).
pub(crate) struct Link {
    engine: String,
    symbol: String,
    client_id: i32,
    book: Mutex<Book>,
    cmds: mpsc::Sender<Cmd>,
    status: Mutex<LinkStatus>,
    moved: Mutex<Option<Moved>>,
    /// The account's positions in this engine's contract, per instrument;
    /// `None` until IB has sent them.
    positions: Mutex<Option<BTreeMap<String, Decimal>>>,
}

pub(crate) enum Cmd {
    Place(Order),
    Cancel(String),
}

impl Link {
    /// A connection's two sides, and the receiving end of its queue.
    fn new(engine: &str, symbol: &str, client_id: i32) -> (Arc<Link>, mpsc::Receiver<Cmd>) {
        let (tx, rx) = mpsc::channel(QUEUE);
        let link = Arc::new(Link {
            engine: engine.to_owned(),
            symbol: symbol.to_owned(),
            client_id,
            book: Mutex::new(Book::new(engine)),
            cmds: tx,
            status: Mutex::new(LinkStatus {
                client_id,
                why: "connecting".into(),
                ..LinkStatus::default()
            }),
            moved: Mutex::new(None),
            positions: Mutex::new(None),
        });
        (link, rx)
    }

    fn lock_book(&self) -> std::sync::MutexGuard<'_, Book> {
        self.book.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_status(&self) -> std::sync::MutexGuard<'_, LinkStatus> {
        self.status.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn ready(&self) -> Result<(), BrokerError> {
        let s = self.lock_status();
        if s.ready {
            Ok(())
        } else {
            Err(BrokerError::Unavailable(format!(
                "IB (client id {}) is not ready: {}",
                s.client_id, s.why
            )))
        }
    }

    /// Tells the executor (through its broker actor's hook) which orders
    /// moved.
    fn tell_moved(&self, ids: Vec<String>) {
        if ids.is_empty() {
            return;
        }
        let hook = self.moved.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(f) = hook {
            f(ids);
        }
    }
}

/// The daemon's connections to IB. Cloning shares it; the connections stop
/// when the last clone is dropped.
#[derive(Clone)]
pub struct IbPool(Arc<PoolInner>);

struct PoolInner {
    /// Why there are no connections (the pool's thread could not start):
    /// every adapter answers "unavailable" with it.
    broken: Option<String>,
    /// The engines in config order: engine `i` is on slot `i`.
    order: Vec<String>,
    settings: Arc<IbSettings>,
    clock: Clock,
    rt: Option<tokio::runtime::Handle>,
    stop: watch::Sender<bool>,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    links: Mutex<BTreeMap<String, Arc<Link>>>,
    /// The market data connection, once [`IbPool::bars`] made it.
    data: Mutex<Option<Arc<Link>>>,
    pacer: Arc<Mutex<pacing::Pacer>>,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = t.join();
        }
    }
}

impl IbPool {
    /// Starts the pool's thread; connections are made as engines ask for
    /// them ([`IbPool::broker`]). `order`: the engines in config order
    /// (engine `i` connects as `client_id_base + 1 + i`).
    pub fn start(
        settings: IbSettings,
        clock: Clock,
        order: Vec<String>,
    ) -> std::io::Result<IbPool> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let handle = rt.handle().clone();
        let (stop, mut stopped) = watch::channel(false);
        let thread = std::thread::Builder::new()
            .name("ib-pool".into())
            .spawn(move || {
                rt.block_on(async move {
                    while !*stopped.borrow() {
                        if stopped.changed().await.is_err() {
                            break;
                        }
                    }
                });
                // Dropping the runtime ends the connections' tasks.
            })?;
        let per_second = settings.messages_per_second;
        Ok(IbPool(Arc::new(PoolInner {
            broken: None,
            order,
            settings: Arc::new(settings),
            clock,
            rt: Some(handle),
            stop,
            thread: Mutex::new(Some(thread)),
            links: Mutex::new(BTreeMap::new()),
            data: Mutex::new(None),
            pacer: Arc::new(Mutex::new(pacing::Pacer::new(per_second))),
        })))
    }

    /// A pool without connections: every adapter answers "unavailable"
    /// with `why` (its thread could not start).
    pub fn broken(why: String) -> IbPool {
        let (stop, _) = watch::channel(true);
        IbPool(Arc::new(PoolInner {
            broken: Some(why),
            order: Vec::new(),
            settings: Arc::new(IbSettings::local("", 0)),
            clock: Clock::market(0, 1.0),
            rt: None,
            stop,
            thread: Mutex::new(None),
            links: Mutex::new(BTreeMap::new()),
            data: Mutex::new(None),
            pacer: Arc::new(Mutex::new(pacing::Pacer::new(0))),
        }))
    }

    pub fn settings(&self) -> &IbSettings {
        &self.0.settings
    }

    /// The broker adapter of engine `engine` (trading `symbol`): a fresh
    /// adapter on its connection. The first call makes the connection;
    /// later ones (a restarted broker actor, a rebuilt engine) share it.
    /// Without a connection (beyond `max_connections`, a broken pool) the
    /// adapter answers "unavailable", and the breaker counts it.
    pub fn broker(&self, engine: &str, symbol: &str) -> Box<dyn Broker> {
        match self.link(engine, symbol) {
            Ok(link) => Box::new(IbBroker { link }),
            Err(why) => {
                tracing::error!(engine, "{why}");
                Box::new(Unavailable(why))
            }
        }
    }

    /// The adapter itself, or why there is none.
    pub fn adapter(&self, engine: &str, symbol: &str) -> Result<IbBroker, String> {
        self.link(engine, symbol).map(|link| IbBroker { link })
    }

    fn link(&self, engine: &str, symbol: &str) -> Result<Arc<Link>, String> {
        let p = &self.0;
        if let Some(why) = &p.broken {
            return Err(why.clone());
        }
        let mut links = p.links.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = links.get(engine) {
            return Ok(l.clone());
        }
        if links.len() >= p.settings.max_connections {
            return Err(format!(
                "engine {engine}: the IB pool has all its {} connections in use (broker.ib.max_connections)",
                p.settings.max_connections
            ));
        }
        // Its place in the config; an engine added since takes the first
        // slot no engine of the config holds.
        let taken: Vec<i32> = links.values().map(|l| l.client_id).collect();
        let slot = p.order.iter().position(|e| e == engine).unwrap_or_else(|| {
            (p.order.len()..)
                .find(|s| !taken.contains(&(p.settings.client_id_base + 1 + *s as i32)))
                .unwrap_or(p.order.len())
        });
        let client_id = p.settings.client_id_base + 1 + slot as i32;
        let Some(rt) = &p.rt else {
            return Err("the IB pool has no thread".into());
        };
        let (link, rx) = Link::new(engine, symbol, client_id);
        links.insert(engine.to_owned(), link.clone());
        rt.spawn(orders::run(link.clone(), rx, self.shared()));
        Ok(link)
    }

    fn shared(&self) -> conn::Shared {
        let p = &self.0;
        conn::Shared {
            settings: p.settings.clone(),
            pacer: p.pacer.clone(),
            clock: p.clock,
            stop: p.stop.subscribe(),
        }
    }

    /// IB's bars of `symbols` (each engine's contract) as the market's feed
    /// (`feed.source = "ib"`): one data connection, client id
    /// `client_id_base`, subscribing each symbol's front month (rolled
    /// `days_before` business days before first notice) and the next. A
    /// broken pool's feed stays empty (the engines go stale).
    pub fn bars(&self, symbols: Vec<String>, days_before: u16) -> IbBars {
        let queue = Arc::new(bars::Queue::default());
        let p = &self.0;
        if let (None, Some(rt)) = (&p.broken, &p.rt) {
            let (link, _) = Link::new("market data", "", p.settings.client_id_base);
            *p.data.lock().unwrap_or_else(|e| e.into_inner()) = Some(link.clone());
            rt.spawn(bars::run(
                link,
                queue.clone(),
                bars::Wanted {
                    symbols,
                    days_before,
                },
                self.shared(),
            ));
        }
        IbBars::new(queue, Some(self.clone()))
    }

    /// Every connection's state, by engine (the market data connection as
    /// `market_data`).
    pub fn status(&self) -> BTreeMap<String, LinkStatus> {
        let mut out: BTreeMap<String, LinkStatus> = self
            .0
            .links
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(e, l)| (e.clone(), l.lock_status().clone()))
            .collect();
        if let Some(d) = &*self.0.data.lock().unwrap_or_else(|e| e.into_inner()) {
            out.insert("market_data".into(), d.lock_status().clone());
        }
        out
    }
}

/// The adapter of an engine without a connection: every call is
/// "unavailable", with why.
struct Unavailable(String);

impl Broker for Unavailable {
    fn submit(&mut self, _: &Order) -> Result<Known, BrokerError> {
        Err(BrokerError::Unavailable(self.0.clone()))
    }
    fn lookup(&mut self, _: &str) -> Result<Known, BrokerError> {
        Err(BrokerError::Unavailable(self.0.clone()))
    }
    fn cancel(&mut self, _: &str, _: &str) -> Result<Known, BrokerError> {
        Err(BrokerError::Unavailable(self.0.clone()))
    }
    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        Err(BrokerError::Unavailable(self.0.clone()))
    }
}

/// One engine's broker adapter: reads its book, queues its orders.
pub struct IbBroker {
    link: Arc<Link>,
}

impl IbBroker {
    /// Whether the connection is up and reconciled.
    pub fn status(&self) -> LinkStatus {
        self.link.lock_status().clone()
    }
}

impl Broker for IbBroker {
    fn submit(&mut self, order: &Order) -> Result<Known, BrokerError> {
        self.link.ready()?;
        let mut book = self.link.lock_book();
        let known = book.known(&order.client_order_id);
        if known != Known::Unknown {
            // IB has seen it (or it is on its way): never sent twice.
            return Ok(known);
        }
        book.queue(order);
        match self.link.cmds.try_send(Cmd::Place(order.clone())) {
            Ok(()) => Ok(Known::Working(Vec::new())),
            Err(e) => {
                book.unqueue(&order.client_order_id);
                Err(BrokerError::Unavailable(match e {
                    mpsc::error::TrySendError::Full(_) => format!(
                        "the IB connection's queue is full ({QUEUE} orders and cancels wait): not sent"
                    ),
                    mpsc::error::TrySendError::Closed(_) => {
                        "the IB connection has stopped: not sent".to_owned()
                    }
                }))
            }
        }
    }

    fn lookup(&mut self, client_order_id: &str) -> Result<Known, BrokerError> {
        self.link.ready()?;
        Ok(self.link.lock_book().known(client_order_id))
    }

    fn cancel(&mut self, client_order_id: &str, why: &str) -> Result<Known, BrokerError> {
        self.link.ready()?;
        let known = self.link.lock_book().known(client_order_id);
        if let Known::Working(_) = known {
            tracing::info!(engine = %self.link.engine, order = client_order_id, why, "cancelling at IB");
            self.link
                .cmds
                .try_send(Cmd::Cancel(client_order_id.to_owned()))
                .map_err(|_| {
                    BrokerError::Unavailable(format!(
                        "the IB connection's queue is full ({QUEUE} orders and cancels wait): cancel not sent"
                    ))
                })?;
        }
        Ok(known)
    }

    /// The account's positions in this engine's contract, and its cash (the
    /// account summary's). IB's cash is the account's, shared by every
    /// engine on it: only positions compare.
    fn holdings(&mut self) -> Result<Holdings, BrokerError> {
        self.link.ready()?;
        let positions = self
            .link
            .positions
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| {
                BrokerError::Unavailable("IB has not sent the account's positions yet".into())
            })?;
        let cash = self
            .link
            .lock_status()
            .cash
            .as_deref()
            .and_then(|c| c.parse::<Decimal>().ok())
            .unwrap_or_default();
        Ok(Holdings {
            positions,
            cash,
            account_wide: true,
            ..Holdings::default()
        })
    }

    fn watch(&mut self, moved: Box<dyn Fn(Vec<String>) + Send + Sync>) {
        *self.link.moved.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::from(moved));
    }
}
