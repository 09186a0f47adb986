//! A TWS API simulator for commodore's tests: IB's side of the messages the
//! IB adapter uses, spoken over a real TCP socket on loopback, in the
//! protobuf framing of server version 213 and later (what the `ibapi`
//! crate speaks).
//!
//! It keeps IB's memory across connections, as TWS does: orders (open and
//! completed), executions with their commissions, the account's
//! positions, and each client id's next order id. A test steers it: how
//! orders fill (at once, in parts, or resting until the test fills them),
//! a refusal, a pacing limit (IB disconnects a client beyond it), dropped
//! connections, refused connections, contracts it does not list, and
//! orders it takes without a word back. And it reads what IB saw: every
//! order placed, how often each reference was placed, violations.
//!
//! What it does not do: market data beyond real-time bars a test pushes,
//! order modification, combos, anything the adapter does not send.

pub mod proto;

use prost::Message;
use proto::msg::{from_client as c, to_client as s};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Notify};

/// The server version the simulator announces.
pub const SERVER_VERSION: i32 = proto::msg::MAX_CLIENT_VERSION;

/// How orders fill when placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fills {
    /// All of it, at once, in one execution.
    AtOnce,
    /// In this many executions (as even as whole contracts allow), at once.
    Parts(u32),
    /// Not at all: it rests until the test fills it ([`Sim::fill`]).
    Rest,
}

/// An order as IB holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimOrder {
    pub perm_id: i64,
    pub order_id: i32,
    pub client_id: i32,
    pub order_ref: String,
    pub account: String,
    pub symbol: String,
    /// `YYYYMM`.
    pub month: String,
    pub action: String,
    pub qty: f64,
    pub order_type: String,
    pub limit: Option<f64>,
    pub good_till: String,
    pub filled: f64,
    pub status: String,
}

impl SimOrder {
    pub fn live(&self) -> bool {
        !matches!(self.status.as_str(), "Filled" | "Cancelled" | "Inactive")
    }
}

/// An execution as IB holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct SimExec {
    pub exec_id: String,
    pub perm_id: i64,
    pub order_id: i32,
    pub client_id: i32,
    pub order_ref: String,
    pub account: String,
    pub symbol: String,
    pub month: String,
    pub side: String,
    pub shares: f64,
    /// The order's filled quantity after this execution.
    pub cum: f64,
    pub price: f64,
    pub time: String,
    pub commission: f64,
}

struct Conn {
    client_id: i32,
    out: mpsc::UnboundedSender<Vec<u8>>,
    kill: Arc<Notify>,
    positions: bool,
    /// The account summary's request id, when asked (IB then pushes changes).
    summary: Option<i32>,
    bars: HashMap<i32, (String, String)>,
}

struct State {
    account: String,
    fills: Fills,
    prices: HashMap<String, f64>,
    commission: f64,
    reject_next: Option<(i32, String)>,
    pacing: Option<u32>,
    silent: bool,
    mute: bool,
    refuse: bool,
    unlisted: Vec<String>,
    time: String,
    next_perm: i64,
    next_exec: u64,
    next_conn: u64,
    next_ids: HashMap<i32, i32>,
    orders: Vec<SimOrder>,
    execs: Vec<SimExec>,
    placed: HashMap<String, u32>,
    conns: HashMap<u64, Conn>,
    violations: u32,
    connects: u32,
    messages: u64,
}

struct Shared {
    state: Mutex<State>,
    changed: Notify,
}

/// A running simulator; it stops when dropped.
pub struct Sim {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Arc<Notify>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop.notify_one();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Sim {
    /// Starts a simulator on a free loopback port, for `account`.
    pub fn start(account: &str) -> Sim {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                account: account.to_owned(),
                fills: Fills::AtOnce,
                // Near the bundled data's markets.
                prices: HashMap::from([("KC".into(), 345.0), ("CC".into(), 6100.0)]),
                commission: 2.5,
                reject_next: None,
                pacing: None,
                silent: false,
                mute: false,
                refuse: false,
                unlisted: Vec::new(),
                time: "20260303-15:15:30".into(),
                next_perm: 1_000_000,
                next_exec: 1,
                next_conn: 1,
                next_ids: HashMap::new(),
                orders: Vec::new(),
                execs: Vec::new(),
                placed: HashMap::new(),
                conns: HashMap::new(),
                violations: 0,
                connects: 0,
                messages: 0,
            }),
            changed: Notify::new(),
        });
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
        std_listener.set_nonblocking(true).expect("non-blocking");
        let addr = std_listener.local_addr().expect("its address");
        let stop = Arc::new(Notify::new());
        let (sh, st) = (shared.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("ibsim".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("the simulator's runtime");
                rt.block_on(async move {
                    let listener = TcpListener::from_std(std_listener).expect("listener");
                    loop {
                        tokio::select! {
                            _ = st.notified() => break,
                            a = listener.accept() => if let Ok((sock, _)) = a {
                                tokio::spawn(serve(sock, sh.clone()));
                            },
                        }
                    }
                    let conns: Vec<Arc<Notify>> =
                        lock(&sh).conns.values().map(|c| c.kill.clone()).collect();
                    for k in conns {
                        k.notify_one();
                    }
                });
            })
            .expect("the simulator's thread");
        Sim {
            addr,
            shared,
            stop,
            thread: Some(thread),
        }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared)
    }

    fn changed(&self) {
        self.shared.changed.notify_waiters();
    }

    pub fn set_fills(&self, f: Fills) {
        self.state().fills = f;
    }

    /// The price `symbol`'s market orders fill at (KC 345, CC 6100 at
    /// first: near the bundled data).
    pub fn set_price(&self, symbol: &str, p: f64) {
        self.state().prices.insert(symbol.to_owned(), p);
    }

    /// The next order placed is refused with this code and message.
    pub fn reject_next(&self, code: i32, message: &str) {
        self.state().reject_next = Some((code, message.to_owned()));
    }

    /// IB's pacing: beyond `per_second` messages in any second from one
    /// client, it sends error 100 and closes that connection.
    pub fn set_pacing_limit(&self, per_second: Option<u32>) {
        self.state().pacing = per_second;
    }

    /// Orders are taken, and nothing is said back (a word lost in a fall).
    pub fn set_silent(&self, silent: bool) {
        self.state().silent = silent;
    }

    /// A hung gateway: connections stay open and nothing is answered.
    pub fn set_mute(&self, mute: bool) {
        self.state().mute = mute;
    }

    /// Connections are accepted and closed at once (IB Gateway down or
    /// logging in).
    pub fn refuse_connections(&self, refuse: bool) {
        self.state().refuse = refuse;
    }

    /// IB lists no contract for `symbol` in `yyyymm`.
    pub fn unlist(&self, symbol: &str, yyyymm: &str) {
        self.state().unlisted.push(format!("{symbol}{yyyymm}"));
    }

    /// The time executions are stamped with (`yyyymmdd-hh:mm:ss`, UTC).
    pub fn set_time(&self, t: &str) {
        self.state().time = t.to_owned();
    }

    /// Closes every client's connection (the gateway's nightly restart, a
    /// network fall).
    pub fn drop_connections(&self) {
        let kills: Vec<Arc<Notify>> = self
            .state()
            .conns
            .values()
            .map(|c| c.kill.clone())
            .collect();
        for k in kills {
            k.notify_one();
        }
    }

    /// Fills `qty` more of the live order `order_ref` now, at `price` (its
    /// limit or the market price when `None`), whether or not its client is
    /// connected (IB fills while commodore is down).
    pub fn fill(&self, order_ref: &str, qty: f64, price: Option<f64>) {
        let mut st = self.state();
        let Some(i) = st
            .orders
            .iter()
            .position(|o| o.order_ref == order_ref && o.live())
        else {
            panic!("no live order {order_ref} at the simulator");
        };
        execute(&mut st, i, qty, price);
        drop(st);
        self.changed();
    }

    /// Every order IB holds.
    pub fn orders(&self) -> Vec<SimOrder> {
        self.state().orders.clone()
    }

    /// Every execution IB holds.
    pub fn executions(&self) -> Vec<SimExec> {
        self.state().execs.clone()
    }

    /// How many times an order with this reference was placed.
    pub fn placed(&self, order_ref: &str) -> u32 {
        self.state().placed.get(order_ref).copied().unwrap_or(0)
    }

    pub fn violations(&self) -> u32 {
        self.state().violations
    }

    pub fn connects(&self) -> u32 {
        self.state().connects
    }

    /// Clients connected now.
    pub fn clients(&self) -> Vec<i32> {
        let mut v: Vec<i32> = self.state().conns.values().map(|c| c.client_id).collect();
        v.sort();
        v
    }

    /// Messages received from clients.
    pub fn messages(&self) -> u64 {
        self.state().messages
    }

    /// Net contracts of `symbol` month `yyyymm` in the account.
    pub fn position(&self, symbol: &str, yyyymm: &str) -> f64 {
        let st = self.state();
        positions(&st)
            .get(&(symbol.to_owned(), yyyymm.to_owned()))
            .copied()
            .unwrap_or(0.0)
    }

    /// The real-time bar subscriptions of every client: `(symbol, yyyymm)`,
    /// sorted.
    pub fn bar_subscriptions(&self) -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = self
            .state()
            .conns
            .values()
            .flat_map(|c| c.bars.values().cloned())
            .collect();
        v.sort();
        v
    }

    /// Pushes a five-second bar to every client subscribed to `symbol`
    /// month `yyyymm`.
    #[allow(clippy::too_many_arguments)]
    pub fn bar(&self, symbol: &str, yyyymm: &str, time_s: i64, ohlc: [f64; 4], volume: u64) {
        let st = self.state();
        for conn in st.conns.values() {
            for (req, (sym, m)) in &conn.bars {
                if sym == symbol && m == yyyymm {
                    let _ = conn.out.send(frame(
                        s::REAL_TIME_BARS,
                        &proto::RealTimeBarTick {
                            req_id: Some(*req),
                            time: Some(time_s),
                            open: Some(ohlc[0]),
                            high: Some(ohlc[1]),
                            low: Some(ohlc[2]),
                            close: Some(ohlc[3]),
                            volume: Some(volume.to_string()),
                            wap: Some(ohlc[3].to_string()),
                            count: Some(1),
                        },
                    ));
                }
            }
        }
    }

    /// [`Sim::until`] for a test without a runtime (a black-box test of the
    /// binary): checks every 10 ms.
    pub fn wait(&self, what: &str, within: Duration, f: impl Fn(&Sim) -> bool) {
        let mut left = within;
        while !f(self) {
            let step = Duration::from_millis(10);
            left = left
                .checked_sub(step)
                .unwrap_or_else(|| panic!("the simulator never saw {what} within {within:?}"));
            std::thread::sleep(step);
        }
    }

    /// Waits (up to `within`, real time) until `f` holds of the simulator;
    /// panics naming `what` otherwise.
    pub async fn until(&self, what: &str, within: Duration, f: impl Fn(&Sim) -> bool) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let changed = self.shared.changed.notified();
            if f(self) {
                return;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() && !f(self) {
                panic!("the simulator never saw {what} within {within:?}");
            }
        }
    }
}

fn lock(sh: &Shared) -> MutexGuard<'_, State> {
    sh.state.lock().unwrap_or_else(|p| p.into_inner())
}

/// `[u32 length][i32 id + 200][prost bytes]`.
fn frame(id: i32, m: &impl Message) -> Vec<u8> {
    let body = m.encode_to_vec();
    let mut out = Vec::with_capacity(8 + body.len());
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(&proto::msg::wire(id).to_be_bytes());
    out.extend_from_slice(&body);
    out
}

fn error(id: i32, code: i32, message: &str) -> Vec<u8> {
    frame(
        s::ERROR,
        &proto::ErrorMessage {
            id: Some(id),
            error_time: Some(0),
            error_code: Some(code),
            error_msg: Some(message.to_owned()),
            advanced_order_reject_json: None,
        },
    )
}

async fn read_frame(sock: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    sock.read_exact(&mut len).await?;
    let len = u32::from_be_bytes(len) as usize;
    if len > 16 << 20 {
        return Err(std::io::Error::other("a frame over 16 MiB"));
    }
    let mut body = vec![0u8; len];
    sock.read_exact(&mut body).await?;
    Ok(body)
}

/// One client's connection: the handshake, then its messages.
async fn serve(mut sock: TcpStream, sh: Arc<Shared>) {
    if lock(&sh).refuse {
        return;
    }
    // "API\0", then the version range as a frame.
    let mut api = [0u8; 4];
    if sock.read_exact(&mut api).await.is_err() || &api != b"API\0" {
        return;
    }
    let Ok(range) = read_frame(&mut sock).await else {
        return;
    };
    let range = String::from_utf8_lossy(&range).into_owned();
    let ok = range
        .trim_start_matches('v')
        .split_once("..")
        .and_then(|(lo, hi)| Some((lo.parse::<i32>().ok()?, hi.parse::<i32>().ok()?)))
        .is_some_and(|(lo, hi)| lo <= SERVER_VERSION && SERVER_VERSION <= hi);
    if !ok {
        return;
    }
    let ack = format!("{SERVER_VERSION}\0{} UTC\0", "20260303 15:00:00");
    let mut out = (ack.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(ack.as_bytes());
    if sock.write_all(&out).await.is_err() {
        return;
    }
    let Ok(start) = read_frame(&mut sock).await else {
        return;
    };
    let Some(client_id) = (start.len() >= 4
        && i32::from_be_bytes([start[0], start[1], start[2], start[3]])
            == proto::msg::wire(c::START_API))
    .then(|| proto::StartApiRequest::decode(&start[4..]).ok())
    .flatten()
    .and_then(|r| r.client_id) else {
        return;
    };
    let (tx, mut rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let kill = Arc::new(Notify::new());
    let taken = lock(&sh).conns.values().any(|c| c.client_id == client_id);
    if taken {
        let _ = sock
            .write_all(&error(-1, 326, "Unable to connect as the client id is already in use. Retry with a unique client id."))
            .await;
        return;
    }
    let id = {
        let mut st = lock(&sh);
        st.connects += 1;
        let id = st.next_conn;
        st.next_conn += 1;
        let next = *st.next_ids.entry(client_id).or_insert(1);
        let _ = tx.send(frame(
            s::NEXT_VALID_ID,
            &proto::NextValidId {
                order_id: Some(next),
            },
        ));
        let _ = tx.send(frame(
            s::MANAGED_ACCOUNTS,
            &proto::ManagedAccounts {
                accounts_list: Some(st.account.clone()),
            },
        ));
        st.conns.insert(
            id,
            Conn {
                client_id,
                out: tx,
                kill: kill.clone(),
                positions: false,
                summary: None,
                bars: HashMap::new(),
            },
        );
        id
    };
    sh.changed.notify_waiters();
    let (mut rd, mut wr) = sock.into_split();
    let writer = tokio::spawn(async move {
        while let Some(f) = rx.recv().await {
            if wr.write_all(&f).await.is_err() {
                break;
            }
        }
    });
    let mut seen: VecDeque<tokio::time::Instant> = VecDeque::new();
    loop {
        let mut len = [0u8; 4];
        let body = tokio::select! {
            _ = kill.notified() => break,
            r = rd.read_exact(&mut len) => {
                if r.is_err() { break; }
                let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                if rd.read_exact(&mut body).await.is_err() { break; }
                body
            }
        };
        // IB's pacing: messages in the last second.
        let now = tokio::time::Instant::now();
        seen.push_back(now);
        while seen
            .front()
            .is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1))
        {
            seen.pop_front();
        }
        let limit = {
            let mut st = lock(&sh);
            st.messages += 1;
            st.pacing
        };
        if let Some(limit) = limit.filter(|l| seen.len() as u32 > *l) {
            {
                let mut st = lock(&sh);
                st.violations += 1;
                if let Some(conn) = st.conns.get(&id) {
                    let _ = conn.out.send(error(
                        -1,
                        100,
                        &format!(
                            "Max rate of messages per second has been exceeded:max={limit} rec={}",
                            seen.len()
                        ),
                    ));
                }
            }
            {
                // The error goes out before the connection closes.
                tokio::time::sleep(Duration::from_millis(50)).await;
                break;
            }
        }
        if body.len() >= 4 {
            let wire = i32::from_be_bytes([body[0], body[1], body[2], body[3]]);
            handle(
                &sh,
                id,
                client_id,
                wire - proto::msg::PROTOBUF_OFFSET,
                &body[4..],
            );
            sh.changed.notify_waiters();
        }
    }
    lock(&sh).conns.remove(&id);
    writer.abort();
    sh.changed.notify_waiters();
}

fn contract(symbol: &str, month: &str) -> proto::Contract {
    let con_id = symbol.bytes().fold(0i32, |a, b| a * 31 + i32::from(b)) * 1000
        + month.parse::<i32>().unwrap_or(0) % 1000;
    proto::Contract {
        con_id: Some(con_id),
        symbol: Some(symbol.to_owned()),
        sec_type: Some("FUT".into()),
        last_trade_date_or_contract_month: Some(format!("{month}19")),
        multiplier: Some(if symbol == "KC" { 37_500.0 } else { 10.0 }),
        exchange: Some("NYBOT".into()),
        currency: Some("USD".into()),
        local_symbol: Some(format!("{symbol}{month}")),
        trading_class: Some(symbol.to_owned()),
        last_trade_date: Some(format!("{month}19")),
        ..proto::Contract::default()
    }
}

fn send_to(st: &State, client_id: i32, f: Vec<u8>) {
    for conn in st.conns.values().filter(|c| c.client_id == client_id) {
        let _ = conn.out.send(f.clone());
    }
}

fn handle(sh: &Shared, conn: u64, client_id: i32, id: i32, body: &[u8]) {
    let mut st = lock(sh);
    let st = &mut *st;
    if st.mute {
        return;
    }
    let reply = |st: &State, f: Vec<u8>| {
        if let Some(c) = st.conns.get(&conn) {
            let _ = c.out.send(f);
        }
    };
    match id {
        c::PLACE_ORDER => {
            let Ok(r) = proto::PlaceOrderRequest::decode(body) else {
                return;
            };
            place(st, client_id, r);
        }
        c::CANCEL_ORDER => {
            let Ok(r) = proto::CancelOrderRequest::decode(body) else {
                return;
            };
            let oid = r.order_id.unwrap_or_default();
            match st
                .orders
                .iter()
                .position(|o| o.client_id == client_id && o.order_id == oid)
            {
                Some(i) if st.orders[i].live() => {
                    st.orders[i].status = "Cancelled".into();
                    let f = status_frame(&st.orders[i]);
                    send_to(st, client_id, f);
                    send_to(st, client_id, error(oid, 202, "Order Canceled - reason:"));
                }
                _ => reply(
                    st,
                    error(
                        oid,
                        10147,
                        &format!("OrderId {oid} that needs to be cancelled is not found."),
                    ),
                ),
            }
        }
        c::REQ_ALL_OPEN_ORDERS | c::REQ_OPEN_ORDERS => {
            let all = id == c::REQ_ALL_OPEN_ORDERS;
            for o in st
                .orders
                .iter()
                .filter(|o| o.live() && (all || o.client_id == client_id))
            {
                reply(st, open_order_frame(o));
                reply(st, status_frame(o));
            }
            reply(st, frame(s::OPEN_ORDER_END, &proto::OpenOrdersEnd {}));
        }
        c::REQ_COMPLETED_ORDERS => {
            for o in st.orders.iter().filter(|o| !o.live()) {
                reply(
                    st,
                    frame(
                        s::COMPLETED_ORDER,
                        &proto::CompletedOrder {
                            contract: Some(contract(&o.symbol, &o.month)),
                            order: Some(proto::Order {
                                // A completed order: what was left, and what filled.
                                total_quantity: Some((o.qty - o.filled).to_string()),
                                filled_quantity: Some(o.filled.to_string()),
                                order_id: None,
                                ..order_proto(o)
                            }),
                            order_state: Some(proto::OrderState {
                                status: Some(o.status.clone()),
                                completed_status: Some(o.status.clone()),
                                ..proto::OrderState::default()
                            }),
                        },
                    ),
                );
            }
            reply(
                st,
                frame(s::COMPLETED_ORDERS_END, &proto::CompletedOrdersEnd {}),
            );
        }
        c::REQ_EXECUTIONS => {
            let Ok(r) = proto::ExecutionRequest::decode(body) else {
                return;
            };
            let req = r.req_id.unwrap_or(-1);
            let account = r
                .execution_filter
                .and_then(|f| f.acct_code)
                .filter(|a| !a.is_empty());
            // IB promises no order: the newest first here, so nothing may
            // rely on the order of a listing.
            for x in st
                .execs
                .iter()
                .rev()
                .filter(|x| account.as_ref().is_none_or(|a| *a == x.account))
            {
                reply(st, exec_frame(req, x));
                reply(st, commission_frame(x));
            }
            reply(
                st,
                frame(
                    s::EXECUTION_DATA_END,
                    &proto::ExecutionDetailsEnd { req_id: Some(req) },
                ),
            );
        }
        c::REQ_CONTRACT_DATA => {
            let Ok(r) = proto::ContractDataRequest::decode(body) else {
                return;
            };
            let req = r.req_id.unwrap_or(-1);
            let asked = r.contract.unwrap_or_default();
            let symbol = asked.symbol.unwrap_or_default();
            let month: String = asked
                .last_trade_date_or_contract_month
                .unwrap_or_default()
                .chars()
                .take(6)
                .collect();
            let listed = matches!(symbol.as_str(), "KC" | "CC" | "SB" | "CT")
                && month.len() == 6
                && asked.exchange.as_deref() == Some("NYBOT")
                && !st.unlisted.contains(&format!("{symbol}{month}"));
            if !listed {
                reply(
                    st,
                    error(
                        req,
                        200,
                        "No security definition has been found for the request",
                    ),
                );
                return;
            }
            reply(
                st,
                frame(
                    s::CONTRACT_DATA,
                    &proto::ContractData {
                        req_id: Some(req),
                        contract: Some(contract(&symbol, &month)),
                        contract_details: Some(proto::ContractDetails {
                            market_name: Some(symbol.clone()),
                            min_tick: Some(if symbol == "KC" { "0.05" } else { "1" }.into()),
                            contract_month: Some(month.clone()),
                            time_zone_id: Some("US/Eastern".into()),
                            long_name: Some(format!("{symbol} futures")),
                            ..proto::ContractDetails::default()
                        }),
                    },
                ),
            );
            reply(
                st,
                frame(
                    s::CONTRACT_DATA_END,
                    &proto::ContractDataEnd { req_id: Some(req) },
                ),
            );
        }
        c::REQ_POSITIONS => {
            if let Some(cn) = st.conns.get_mut(&conn) {
                cn.positions = true;
            }
            for f in position_frames(st) {
                reply(st, f);
            }
            reply(st, frame(s::POSITION_END, &proto::PositionEnd {}));
        }
        c::CANCEL_POSITIONS => {
            if let Some(cn) = st.conns.get_mut(&conn) {
                cn.positions = false;
            }
        }
        c::REQ_CURRENT_TIME => {
            let secs = st.time.get(..8).map_or(0, |_| 1_772_550_930);
            reply(
                st,
                frame(
                    s::CURRENT_TIME,
                    &proto::CurrentTime {
                        current_time: Some(secs),
                    },
                ),
            );
        }
        c::REQ_IDS => {
            let next = *st.next_ids.entry(client_id).or_insert(1);
            reply(
                st,
                frame(
                    s::NEXT_VALID_ID,
                    &proto::NextValidId {
                        order_id: Some(next),
                    },
                ),
            );
        }
        c::REQ_REAL_TIME_BARS => {
            let Ok(r) = proto::RealTimeBarsRequest::decode(body) else {
                return;
            };
            let asked = r.contract.unwrap_or_default();
            let month: String = asked
                .last_trade_date_or_contract_month
                .unwrap_or_default()
                .chars()
                .take(6)
                .collect();
            if let Some(cn) = st.conns.get_mut(&conn) {
                cn.bars.insert(
                    r.req_id.unwrap_or(-1),
                    (asked.symbol.unwrap_or_default(), month),
                );
            }
        }
        c::CANCEL_REAL_TIME_BARS => {
            let Ok(r) = proto::CancelRealTimeBars::decode(body) else {
                return;
            };
            if let Some(cn) = st.conns.get_mut(&conn) {
                cn.bars.remove(&r.req_id.unwrap_or(-1));
            }
        }
        c::REQ_ACCOUNT_SUMMARY => {
            let Ok(r) = proto::AccountSummaryRequest::decode(body) else {
                return;
            };
            let req = r.req_id.unwrap_or(-1);
            if let Some(cn) = st.conns.get_mut(&conn) {
                cn.summary = Some(req);
            }
            for f in summary_frames(st, req) {
                reply(st, f);
            }
            reply(
                st,
                frame(
                    s::ACCOUNT_SUMMARY_END,
                    &proto::AccountSummaryEnd { req_id: Some(req) },
                ),
            );
        }
        _ => {}
    }
}

fn place(st: &mut State, client_id: i32, r: proto::PlaceOrderRequest) {
    let oid = r.order_id.unwrap_or_default();
    let o = r.order.unwrap_or_default();
    let k = r.contract.unwrap_or_default();
    let order_ref = o.order_ref.clone().unwrap_or_default();
    *st.placed.entry(order_ref.clone()).or_default() += 1;
    let next = st.next_ids.entry(client_id).or_insert(1);
    *next = (*next).max(oid + 1);
    if st
        .orders
        .iter()
        .any(|x| x.client_id == client_id && x.order_id == oid)
    {
        send_to(st, client_id, error(oid, 103, "Duplicate order id"));
        return;
    }
    let perm_id = st.next_perm;
    st.next_perm += 1;
    let order = SimOrder {
        perm_id,
        order_id: oid,
        client_id,
        order_ref,
        account: o.account.clone().unwrap_or_default(),
        symbol: k.symbol.clone().unwrap_or_default(),
        month: k
            .last_trade_date_or_contract_month
            .clone()
            .unwrap_or_default()
            .chars()
            .take(6)
            .collect(),
        action: o.action.clone().unwrap_or_default(),
        qty: o
            .total_quantity
            .as_deref()
            .and_then(|q| q.parse().ok())
            .unwrap_or(0.0),
        order_type: o.order_type.clone().unwrap_or_default(),
        limit: o.lmt_price,
        good_till: o.good_till_date.clone().unwrap_or_default(),
        filled: 0.0,
        status: "Submitted".into(),
    };
    if let Some((code, message)) = st.reject_next.take() {
        let order = SimOrder {
            status: "Cancelled".into(),
            ..order
        };
        send_to(st, client_id, error(oid, code, &message));
        send_to(st, client_id, status_frame(&order));
        st.orders.push(order);
        return;
    }
    if order.account != st.account {
        let order = SimOrder {
            status: "Cancelled".into(),
            ..order
        };
        send_to(
            st,
            client_id,
            error(
                oid,
                321,
                &format!(
                    "Error validating request:-'bN' : cause - Invalid account code {:?}",
                    order.account
                ),
            ),
        );
        st.orders.push(order);
        return;
    }
    st.orders.push(order);
    let i = st.orders.len() - 1;
    if st.silent {
        return;
    }
    send_to(st, client_id, open_order_frame(&st.orders[i]));
    send_to(st, client_id, status_frame(&st.orders[i]));
    let qty = st.orders[i].qty;
    match st.fills {
        Fills::Rest => {}
        Fills::AtOnce => execute(st, i, qty, None),
        Fills::Parts(n) => {
            let n = n.max(1).min(qty.max(1.0) as u32);
            let each = (qty / f64::from(n)).floor();
            for k in 0..n {
                let part = if k + 1 == n {
                    qty - each * f64::from(n - 1)
                } else {
                    each
                };
                execute(st, i, part, None);
            }
        }
    }
}

/// Fills `qty` more of order `i`, tells its client (when connected) and
/// every positions subscriber.
fn execute(st: &mut State, i: usize, qty: f64, price: Option<f64>) {
    let o = &st.orders[i];
    let qty = qty.min(o.qty - o.filled);
    if qty <= 0.0 {
        return;
    }
    let price = price
        .or(o.limit)
        .unwrap_or_else(|| st.prices.get(&o.symbol).copied().unwrap_or(100.0));
    let exec_id = format!("0000e0d5.{:08x}.01.01", st.next_exec);
    st.next_exec += 1;
    let x = SimExec {
        exec_id,
        perm_id: o.perm_id,
        order_id: o.order_id,
        client_id: o.client_id,
        order_ref: o.order_ref.clone(),
        account: o.account.clone(),
        symbol: o.symbol.clone(),
        month: o.month.clone(),
        side: if o.action == "BUY" { "BOT" } else { "SLD" }.into(),
        shares: qty,
        cum: o.filled + qty,
        price,
        time: st.time.clone(),
        commission: st.commission * qty,
    };
    let o = &mut st.orders[i];
    o.filled += qty;
    if o.filled >= o.qty {
        o.status = "Filled".into();
    }
    let client = o.client_id;
    send_to(st, client, exec_frame(-1, &x));
    send_to(st, client, commission_frame(&x));
    send_to(st, client, status_frame(&st.orders[i]));
    st.execs.push(x);
    let frames = position_frames(st);
    for conn in st.conns.values().filter(|c| c.positions) {
        for f in &frames {
            let _ = conn.out.send(f.clone());
        }
    }
    for conn in st.conns.values() {
        if let Some(req) = conn.summary {
            for f in summary_frames(st, req) {
                let _ = conn.out.send(f);
            }
        }
    }
}

/// The account's cash (a million to start, moved by every execution) as
/// the account summary's rows.
fn summary_frames(st: &State, req: i32) -> Vec<Vec<u8>> {
    let cash: f64 = 1_000_000.0
        + st.execs
            .iter()
            .filter(|x| x.account == st.account)
            .map(|x| {
                let mult = if x.symbol == "KC" { 375.0 } else { 10.0 };
                let sign = if x.side == "BOT" { -1.0 } else { 1.0 };
                sign * x.shares * x.price * mult - x.commission
            })
            .sum::<f64>();
    [("TotalCashValue", cash), ("NetLiquidation", cash)]
        .into_iter()
        .map(|(tag, value)| {
            frame(
                s::ACCOUNT_SUMMARY,
                &proto::AccountSummary {
                    req_id: Some(req),
                    account: Some(st.account.clone()),
                    tag: Some(tag.into()),
                    value: Some(format!("{value:.2}")),
                    currency: Some("USD".into()),
                },
            )
        })
        .collect()
}

fn positions(st: &State) -> BTreeMap<(String, String), f64> {
    let mut p: BTreeMap<(String, String), f64> = BTreeMap::new();
    for x in st.execs.iter().filter(|x| x.account == st.account) {
        let sign = if x.side == "BOT" { 1.0 } else { -1.0 };
        *p.entry((x.symbol.clone(), x.month.clone())).or_default() += sign * x.shares;
    }
    p
}

fn position_frames(st: &State) -> Vec<Vec<u8>> {
    positions(st)
        .into_iter()
        .map(|((symbol, month), qty)| {
            frame(
                s::POSITION,
                &proto::Position {
                    account: Some(st.account.clone()),
                    contract: Some(contract(&symbol, &month)),
                    position: Some(qty.to_string()),
                    avg_cost: Some(0.0),
                },
            )
        })
        .collect()
}

fn order_proto(o: &SimOrder) -> proto::Order {
    proto::Order {
        client_id: Some(o.client_id),
        order_id: Some(o.order_id),
        perm_id: Some(o.perm_id),
        action: Some(o.action.clone()),
        total_quantity: Some(o.qty.to_string()),
        order_type: Some(o.order_type.clone()),
        lmt_price: o.limit,
        tif: Some(if o.good_till.is_empty() { "DAY" } else { "GTD" }.into()),
        account: Some(o.account.clone()),
        good_till_date: (!o.good_till.is_empty()).then(|| o.good_till.clone()),
        order_ref: Some(o.order_ref.clone()),
        transmit: Some(true),
        ..proto::Order::default()
    }
}

fn open_order_frame(o: &SimOrder) -> Vec<u8> {
    frame(
        s::OPEN_ORDER,
        &proto::OpenOrder {
            order_id: Some(o.order_id),
            contract: Some(contract(&o.symbol, &o.month)),
            order: Some(order_proto(o)),
            order_state: Some(proto::OrderState {
                status: Some(o.status.clone()),
                ..proto::OrderState::default()
            }),
        },
    )
}

fn status_frame(o: &SimOrder) -> Vec<u8> {
    frame(
        s::ORDER_STATUS,
        &proto::OrderStatus {
            order_id: Some(o.order_id),
            status: Some(o.status.clone()),
            filled: Some(o.filled.to_string()),
            remaining: Some((o.qty - o.filled).to_string()),
            avg_fill_price: Some(0.0),
            perm_id: Some(o.perm_id),
            parent_id: Some(0),
            last_fill_price: Some(0.0),
            client_id: Some(o.client_id),
            why_held: Some(String::new()),
            mkt_cap_price: Some(0.0),
        },
    )
}

fn exec_frame(req: i32, x: &SimExec) -> Vec<u8> {
    frame(
        s::EXECUTION_DATA,
        &proto::ExecutionDetails {
            req_id: Some(req),
            contract: Some(contract(&x.symbol, &x.month)),
            execution: Some(proto::Execution {
                order_id: Some(x.order_id),
                exec_id: Some(x.exec_id.clone()),
                time: Some(x.time.clone()),
                acct_number: Some(x.account.clone()),
                exchange: Some("NYBOT".into()),
                side: Some(x.side.clone()),
                shares: Some(x.shares.to_string()),
                price: Some(x.price),
                perm_id: Some(x.perm_id),
                client_id: Some(x.client_id),
                is_liquidation: Some(false),
                cum_qty: Some(x.cum.to_string()),
                avg_price: Some(x.price),
                order_ref: Some(x.order_ref.clone()),
                last_liquidity: Some(1),
            }),
        },
    )
}

fn commission_frame(x: &SimExec) -> Vec<u8> {
    frame(
        s::COMMISSION_REPORT,
        &proto::CommissionAndFeesReport {
            exec_id: Some(x.exec_id.clone()),
            commission_and_fees: Some(x.commission),
            currency: Some("USD".into()),
            realized_pnl: None,
        },
    )
}
