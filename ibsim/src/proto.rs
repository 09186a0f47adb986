//! Wire messages of the TWS API (protobuf), the subset the simulator speaks;
//! field numbers as the TWS API's .proto files.
//!
//! Every field number and scalar type below was copied from (and checked against)
//! the `prost-build` output that `ibapi` 5.5.0 ships in `src/proto/protobuf.rs`.
//! Fields the simulator has no use for are left out: prost skips unknown
//! fields when decoding, and a message that omits a field encodes exactly like
//! the full message with that field unset. What must never differ is the tag
//! and wire type of a field that *is* declared: a mismatch either fails the
//! decode or silently lands the value in the wrong field.
//!
//! All fields are proto3 `optional` (explicit presence), so `None` is "absent"
//! on the wire and `Some(0)` / `Some(String::new())` is sent. Some quantities
//! are decimal *strings* on the wire (`Order.total_quantity`, `OrderStatus.filled`
//! / `remaining`, `Execution.shares` / `cum_qty`, `Position.position`,
//! `RealTimeBarTick.volume` / `wap`, `ContractDetails.min_tick`), not doubles.
//!
//! Frame layout (both directions, after the handshake):
//! `[u32 BE body length][i32 BE message id + 200][prost bytes]`, see [`msg`].

#![allow(missing_docs)]

use ::prost::alloc::string::String;
use ::prost::alloc::vec::Vec;

/// Numeric message ids, verified against `ibapi` 5.5.0 `src/messages.rs`
/// (`OutgoingMessages` / `IncomingMessages`). On the wire a protobuf frame
/// carries `id + PROTOBUF_OFFSET` as its 4-byte big-endian message id.
pub mod msg {
    /// Added to every protobuf message id on the wire (both directions). A frame
    /// whose id is `> 200` is protobuf; `<= 200` is NUL-delimited text.
    pub const PROTOBUF_OFFSET: i32 = 200;

    /// The wire id (`id + 200`) of a protobuf frame.
    pub const fn wire(id: i32) -> i32 {
        id + PROTOBUF_OFFSET
    }

    /// Lowest server version ibapi 5.5.0 accepts (`PROTOBUF_REST_MESSAGES_3`).
    pub const MIN_SERVER_VERSION: i32 = 213;
    /// Highest version ibapi 5.5.0 offers in `"v213..226"` (`CONDITIONS_INCLUDE_OVERNIGHT`).
    pub const MAX_CLIENT_VERSION: i32 = 226;
    /// From this server version on, dropping an unfinished contract-details
    /// subscription makes ibapi send `CANCEL_CONTRACT_DATA`.
    pub const CANCEL_CONTRACT_DATA_VERSION: i32 = 215;

    /// Client -> server (`OutgoingMessages`). All protobuf-framed.
    pub mod from_client {
        /// `PlaceOrderRequest`
        pub const PLACE_ORDER: i32 = 3;
        /// `CancelOrderRequest`
        pub const CANCEL_ORDER: i32 = 4;
        /// `OpenOrdersRequest` (empty)
        pub const REQ_OPEN_ORDERS: i32 = 5;
        /// `ExecutionRequest`
        pub const REQ_EXECUTIONS: i32 = 7;
        /// `IdsRequest`
        pub const REQ_IDS: i32 = 8;
        /// `ContractDataRequest`
        pub const REQ_CONTRACT_DATA: i32 = 9;
        /// `AutoOpenOrdersRequest` (not used by the calls the simulator serves)
        pub const REQ_AUTO_OPEN_ORDERS: i32 = 15;
        /// `AllOpenOrdersRequest` (empty)
        pub const REQ_ALL_OPEN_ORDERS: i32 = 16;
        /// `ManagedAccountsRequest` (empty; only `Client::managed_accounts`)
        pub const REQ_MANAGED_ACCOUNTS: i32 = 17;
        /// `CurrentTimeRequest` (empty; only `Client::server_time`)
        pub const REQ_CURRENT_TIME: i32 = 49;
        /// `RealTimeBarsRequest`
        pub const REQ_REAL_TIME_BARS: i32 = 50;
        /// `CancelRealTimeBars`
        pub const CANCEL_REAL_TIME_BARS: i32 = 51;
        /// `GlobalCancelRequest` (`Client::global_cancel`)
        pub const REQ_GLOBAL_CANCEL: i32 = 58;
        /// `PositionsRequest` (empty)
        pub const REQ_POSITIONS: i32 = 61;
        /// `AccountSummaryRequest`
        pub const REQ_ACCOUNT_SUMMARY: i32 = 62;
        /// `CancelAccountSummary`
        pub const CANCEL_ACCOUNT_SUMMARY: i32 = 63;
        /// `CancelPositions` (empty)
        pub const CANCEL_POSITIONS: i32 = 64;
        /// `StartApiRequest`
        pub const START_API: i32 = 71;
        /// `CompletedOrdersRequest`
        pub const REQ_COMPLETED_ORDERS: i32 = 99;
        /// `CurrentTimeInMillisRequest` (empty; only `Client::server_time_millis`)
        pub const REQ_CURRENT_TIME_IN_MILLIS: i32 = 105;
        /// `CancelContractData` (sent only when server version >= 215)
        pub const CANCEL_CONTRACT_DATA: i32 = 106;
    }

    /// Server -> client (`IncomingMessages`). ibapi decodes all of these as
    /// protobuf only; send them with `wire(id)`.
    pub mod to_client {
        /// `OrderStatus`
        pub const ORDER_STATUS: i32 = 3;
        /// `ErrorMessage`
        pub const ERROR: i32 = 4;
        /// `OpenOrder`
        pub const OPEN_ORDER: i32 = 5;
        /// `NextValidId`
        pub const NEXT_VALID_ID: i32 = 9;
        /// `ContractData`
        pub const CONTRACT_DATA: i32 = 10;
        /// `ExecutionDetails`
        pub const EXECUTION_DATA: i32 = 11;
        /// `ManagedAccounts`
        pub const MANAGED_ACCOUNTS: i32 = 15;
        /// `CurrentTime` (answer to `REQ_CURRENT_TIME`)
        pub const CURRENT_TIME: i32 = 49;
        /// `RealTimeBarTick`
        pub const REAL_TIME_BARS: i32 = 50;
        /// `ContractDataEnd`
        pub const CONTRACT_DATA_END: i32 = 52;
        /// `OpenOrdersEnd` (empty)
        pub const OPEN_ORDER_END: i32 = 53;
        /// `ExecutionDetailsEnd`
        pub const EXECUTION_DATA_END: i32 = 55;
        /// `CommissionAndFeesReport`
        pub const COMMISSION_REPORT: i32 = 59;
        /// `Position`
        pub const POSITION: i32 = 61;
        /// `PositionEnd` (empty)
        pub const POSITION_END: i32 = 62;
        /// `AccountSummary`
        pub const ACCOUNT_SUMMARY: i32 = 63;
        /// `AccountSummaryEnd`
        pub const ACCOUNT_SUMMARY_END: i32 = 64;
        /// `OrderBound`
        pub const ORDER_BOUND: i32 = 100;
        /// `CompletedOrder`
        pub const COMPLETED_ORDER: i32 = 101;
        /// `CompletedOrdersEnd` (empty)
        pub const COMPLETED_ORDERS_END: i32 = 102;
        /// `CurrentTimeInMillis` (answer to `REQ_CURRENT_TIME_IN_MILLIS`)
        pub const CURRENT_TIME_IN_MILLIS: i32 = 109;
    }
}

// === Shared sub-messages ===

/// `protobuf.Contract` (subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Contract {
    #[prost(int32, optional, tag = "1")]
    pub con_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub symbol: Option<String>,
    /// `STK`, `FUT`, `OPT`, ... (any non-empty value decodes).
    #[prost(string, optional, tag = "3")]
    pub sec_type: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub last_trade_date_or_contract_month: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub strike: Option<f64>,
    /// Only `"C"` or `"P"` decode; anything else fails ibapi's decode.
    #[prost(string, optional, tag = "6")]
    pub right: Option<String>,
    /// A double on the wire (ibapi sends `multiplier.parse::<f64>()`).
    #[prost(double, optional, tag = "7")]
    pub multiplier: Option<f64>,
    #[prost(string, optional, tag = "8")]
    pub exchange: Option<String>,
    #[prost(string, optional, tag = "9")]
    pub primary_exch: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub currency: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub local_symbol: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub trading_class: Option<String>,
    #[prost(bool, optional, tag = "18")]
    pub include_expired: Option<bool>,
    /// `YYYYMMDD`; an unparseable value is logged and read as `None`.
    #[prost(string, optional, tag = "21")]
    pub last_trade_date: Option<String>,
}

/// `protobuf.Order` (subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Order {
    /// Routing: a frame whose `client_id` is set and differs from the
    /// connection's client id is "foreign" and skips the order routes.
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    /// ibapi leaves this unset in `PlaceOrderRequest` (the id is at the top level).
    #[prost(int32, optional, tag = "2")]
    pub order_id: Option<i32>,
    #[prost(int64, optional, tag = "3")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "4")]
    pub parent_id: Option<i32>,
    /// REQUIRED when sent to ibapi: `BUY`, `SELL`, `SSHORT` or `SLONG`.
    #[prost(string, optional, tag = "5")]
    pub action: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "6")]
    pub total_quantity: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub order_type: Option<String>,
    #[prost(double, optional, tag = "9")]
    pub lmt_price: Option<f64>,
    #[prost(double, optional, tag = "10")]
    pub aux_price: Option<f64>,
    #[prost(string, optional, tag = "11")]
    pub tif: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub account: Option<String>,
    #[prost(bool, optional, tag = "19")]
    pub outside_rth: Option<bool>,
    #[prost(string, optional, tag = "25")]
    pub good_after_time: Option<String>,
    #[prost(string, optional, tag = "26")]
    pub good_till_date: Option<String>,
    #[prost(string, optional, tag = "27")]
    pub oca_group: Option<String>,
    #[prost(string, optional, tag = "28")]
    pub order_ref: Option<String>,
    #[prost(bool, optional, tag = "65")]
    pub what_if: Option<bool>,
    /// Absent means `true` in ibapi's decoder.
    #[prost(bool, optional, tag = "66")]
    pub transmit: Option<bool>,
    #[prost(double, optional, tag = "106")]
    pub cash_qty: Option<f64>,
    /// Decimal string.
    #[prost(string, optional, tag = "115")]
    pub filled_quantity: Option<String>,
}

/// `protobuf.OrderState` (subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OrderState {
    /// REQUIRED (non-empty) when sent to ibapi; any string decodes
    /// (`Submitted`, `Filled`, `Cancelled`, ...).
    #[prost(string, optional, tag = "1")]
    pub status: Option<String>,
    #[prost(double, optional, tag = "11")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub commission_and_fees_currency: Option<String>,
    #[prost(string, optional, tag = "26")]
    pub reject_reason: Option<String>,
    #[prost(string, optional, tag = "28")]
    pub warning_text: Option<String>,
    #[prost(string, optional, tag = "29")]
    pub completed_time: Option<String>,
    #[prost(string, optional, tag = "30")]
    pub completed_status: Option<String>,
}

/// `protobuf.OrderCancel`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OrderCancel {
    #[prost(string, optional, tag = "1")]
    pub manual_order_cancel_time: Option<String>,
    #[prost(string, optional, tag = "2")]
    pub ext_operator: Option<String>,
    #[prost(int32, optional, tag = "3")]
    pub manual_order_indicator: Option<i32>,
}

/// `protobuf.Execution` (subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Execution {
    /// Routing key of `ExecutionDetails` (order route first, then request route).
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    /// Key for the `CommissionAndFeesReport` that follows.
    #[prost(string, optional, tag = "2")]
    pub exec_id: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub acct_number: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub exchange: Option<String>,
    /// REQUIRED when sent to ibapi: `BOT` or `SLD` (nothing else decodes).
    #[prost(string, optional, tag = "6")]
    pub side: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "7")]
    pub shares: Option<String>,
    #[prost(double, optional, tag = "8")]
    pub price: Option<f64>,
    #[prost(int64, optional, tag = "9")]
    pub perm_id: Option<i64>,
    /// Foreign-frame check, as `Order.client_id`.
    #[prost(int32, optional, tag = "10")]
    pub client_id: Option<i32>,
    #[prost(bool, optional, tag = "11")]
    pub is_liquidation: Option<bool>,
    /// Decimal string.
    #[prost(string, optional, tag = "12")]
    pub cum_qty: Option<String>,
    #[prost(double, optional, tag = "13")]
    pub avg_price: Option<f64>,
    #[prost(string, optional, tag = "14")]
    pub order_ref: Option<String>,
    #[prost(int32, optional, tag = "18")]
    pub last_liquidity: Option<i32>,
}

/// `protobuf.ExecutionFilter`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExecutionFilter {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub acct_code: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub time: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub symbol: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub sec_type: Option<String>,
    #[prost(string, optional, tag = "6")]
    pub exchange: Option<String>,
    /// `BUY` / `SELL`.
    #[prost(string, optional, tag = "7")]
    pub side: Option<String>,
    #[prost(int32, optional, tag = "8")]
    pub last_n_days: Option<i32>,
    /// `YYYYMMDD` as integers.
    #[prost(int32, repeated, tag = "9")]
    pub specific_dates: Vec<i32>,
}

/// `protobuf.ContractDetails` (subset).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ContractDetails {
    #[prost(string, optional, tag = "1")]
    pub market_name: Option<String>,
    /// Decimal string, e.g. `"0.01"`; must parse as a number if present.
    #[prost(string, optional, tag = "2")]
    pub min_tick: Option<String>,
    /// Comma-separated.
    #[prost(string, optional, tag = "3")]
    pub order_types: Option<String>,
    /// Comma-separated.
    #[prost(string, optional, tag = "4")]
    pub valid_exchanges: Option<String>,
    #[prost(int32, optional, tag = "5")]
    pub price_magnifier: Option<i32>,
    #[prost(int32, optional, tag = "6")]
    pub under_con_id: Option<i32>,
    #[prost(string, optional, tag = "7")]
    pub long_name: Option<String>,
    #[prost(string, optional, tag = "8")]
    pub contract_month: Option<String>,
    #[prost(string, optional, tag = "9")]
    pub industry: Option<String>,
    #[prost(string, optional, tag = "10")]
    pub category: Option<String>,
    #[prost(string, optional, tag = "11")]
    pub subcategory: Option<String>,
    #[prost(string, optional, tag = "12")]
    pub time_zone_id: Option<String>,
    /// `;`-separated sessions, e.g. `20240102:1700-20240103:1600;20240104:CLOSED`.
    #[prost(string, optional, tag = "13")]
    pub trading_hours: Option<String>,
    /// `;`-separated, as `trading_hours`.
    #[prost(string, optional, tag = "14")]
    pub liquid_hours: Option<String>,
    #[prost(int32, optional, tag = "18")]
    pub agg_group: Option<i32>,
    #[prost(string, optional, tag = "19")]
    pub under_symbol: Option<String>,
    #[prost(string, optional, tag = "20")]
    pub under_sec_type: Option<String>,
    /// Comma-separated.
    #[prost(string, optional, tag = "21")]
    pub market_rule_ids: Option<String>,
    #[prost(string, optional, tag = "22")]
    pub real_expiration_date: Option<String>,
    #[prost(string, optional, tag = "23")]
    pub stock_type: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "24")]
    pub min_size: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "25")]
    pub size_increment: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "26")]
    pub suggested_size_increment: Option<String>,
}

// === Handshake / ids ===

/// Client -> server `START_API` (71).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct StartApiRequest {
    #[prost(int32, optional, tag = "1")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub optional_capabilities: Option<String>,
}

/// Server -> client `NEXT_VALID_ID` (9): at connect, and as the answer to `REQ_IDS`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct NextValidId {
    /// Must be below 1_500_000_000 (ibapi's request-id floor).
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
}

/// Server -> client `MANAGED_ACCOUNTS` (15).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ManagedAccounts {
    /// Comma-separated account codes.
    #[prost(string, optional, tag = "1")]
    pub accounts_list: Option<String>,
}

/// Client -> server `REQ_IDS` (8). ibapi sends `num_ids = Some(0)`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct IdsRequest {
    #[prost(int32, optional, tag = "1")]
    pub num_ids: Option<i32>,
}

/// Server -> client `ERROR` (4).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ErrorMessage {
    /// Request id (>= 1_500_000_000), order id (< 1_500_000_000), or -1 / absent
    /// for a request-less notice.
    #[prost(int32, optional, tag = "1")]
    pub id: Option<i32>,
    /// Milliseconds since the Unix epoch.
    #[prost(int64, optional, tag = "2")]
    pub error_time: Option<i64>,
    #[prost(int32, optional, tag = "3")]
    pub error_code: Option<i32>,
    #[prost(string, optional, tag = "4")]
    pub error_msg: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub advanced_order_reject_json: Option<String>,
}

// === Contract details ===

/// Client -> server `REQ_CONTRACT_DATA` (9).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ContractDataRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
}

/// Server -> client `CONTRACT_DATA` (10). `contract` and `contract_details`
/// are both REQUIRED (may be empty messages, but must be present).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ContractData {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub contract_details: Option<ContractDetails>,
}

/// Server -> client `CONTRACT_DATA_END` (52).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ContractDataEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

/// Client -> server `CANCEL_CONTRACT_DATA` (106).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelContractData {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

// === Orders ===

/// Client -> server `PLACE_ORDER` (3).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PlaceOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
}

/// Client -> server `CANCEL_ORDER` (4).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelOrderRequest {
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub order_cancel: Option<OrderCancel>,
}

/// Client -> server `REQ_GLOBAL_CANCEL` (58).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct GlobalCancelRequest {
    #[prost(message, optional, tag = "1")]
    pub order_cancel: Option<OrderCancel>,
}

/// Client -> server `REQ_OPEN_ORDERS` (5).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OpenOrdersRequest {}

/// Client -> server `REQ_ALL_OPEN_ORDERS` (16).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AllOpenOrdersRequest {}

/// Client -> server `REQ_COMPLETED_ORDERS` (99).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CompletedOrdersRequest {
    #[prost(bool, optional, tag = "1")]
    pub api_only: Option<bool>,
}

/// Server -> client `OPEN_ORDER` (5). `contract`, `order` (with a valid
/// `action`) and `order_state` (with a non-empty `status`) are REQUIRED.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OpenOrder {
    /// Routing key (order route).
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub order: Option<Order>,
    #[prost(message, optional, tag = "4")]
    pub order_state: Option<OrderState>,
}

/// Server -> client `OPEN_ORDER_END` (53).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OpenOrdersEnd {}

/// Server -> client `ORDER_STATUS` (3). `status` (non-empty), `filled` and
/// `remaining` (numeric decimal strings, `"0"` allowed; not the
/// `"2147483647"`-style unset sentinels) are REQUIRED.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OrderStatus {
    /// Routing key (order route).
    #[prost(int32, optional, tag = "1")]
    pub order_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub status: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub filled: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub remaining: Option<String>,
    #[prost(double, optional, tag = "5")]
    pub avg_fill_price: Option<f64>,
    #[prost(int64, optional, tag = "6")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "7")]
    pub parent_id: Option<i32>,
    #[prost(double, optional, tag = "8")]
    pub last_fill_price: Option<f64>,
    /// Foreign-frame check: set it to the connection's client id, or leave it unset.
    #[prost(int32, optional, tag = "9")]
    pub client_id: Option<i32>,
    #[prost(string, optional, tag = "10")]
    pub why_held: Option<String>,
    #[prost(double, optional, tag = "11")]
    pub mkt_cap_price: Option<f64>,
}

/// Server -> client `COMPLETED_ORDER` (101). `contract`, `order` (valid
/// `action`) and `order_state` (non-empty `status`) are REQUIRED.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CompletedOrder {
    #[prost(message, optional, tag = "1")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "2")]
    pub order: Option<Order>,
    #[prost(message, optional, tag = "3")]
    pub order_state: Option<OrderState>,
}

/// Server -> client `COMPLETED_ORDERS_END` (102).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CompletedOrdersEnd {}

/// Server -> client `ORDER_BOUND` (100); only the order-update stream reads it,
/// and then all three fields are REQUIRED.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct OrderBound {
    #[prost(int64, optional, tag = "1")]
    pub perm_id: Option<i64>,
    #[prost(int32, optional, tag = "2")]
    pub client_id: Option<i32>,
    #[prost(int32, optional, tag = "3")]
    pub order_id: Option<i32>,
}

// === Executions ===

/// Client -> server `REQ_EXECUTIONS` (7).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExecutionRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub execution_filter: Option<ExecutionFilter>,
}

/// Server -> client `EXECUTION_DATA` (11). `contract` and `execution` (with
/// `side` = `BOT`/`SLD`) are REQUIRED. `req_id` is the `REQ_EXECUTIONS` id, or
/// -1 for a live fill.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExecutionDetails {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(message, optional, tag = "3")]
    pub execution: Option<Execution>,
}

/// Server -> client `EXECUTION_DATA_END` (55).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct ExecutionDetailsEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

/// Server -> client `COMMISSION_REPORT` (59). Routed only by `exec_id`, to the
/// subscription that received the `ExecutionDetails` with the same `exec_id`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CommissionAndFeesReport {
    #[prost(string, optional, tag = "1")]
    pub exec_id: Option<String>,
    #[prost(double, optional, tag = "2")]
    pub commission_and_fees: Option<f64>,
    #[prost(string, optional, tag = "3")]
    pub currency: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub realized_pnl: Option<f64>,
}

// === Positions ===

/// Client -> server `REQ_POSITIONS` (61).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PositionsRequest {}

/// Client -> server `CANCEL_POSITIONS` (64).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelPositions {}

/// Server -> client `POSITION` (61). `contract` and `position` (numeric
/// decimal string, `"0"` allowed) are REQUIRED.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct Position {
    #[prost(string, optional, tag = "1")]
    pub account: Option<String>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(string, optional, tag = "3")]
    pub position: Option<String>,
    #[prost(double, optional, tag = "4")]
    pub avg_cost: Option<f64>,
}

/// Server -> client `POSITION_END` (62).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct PositionEnd {}

// === Account summary ===

/// Client -> server `REQ_ACCOUNT_SUMMARY` (62).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AccountSummaryRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    /// e.g. `"All"`.
    #[prost(string, optional, tag = "2")]
    pub group: Option<String>,
    /// Comma-separated tags.
    #[prost(string, optional, tag = "3")]
    pub tags: Option<String>,
}

/// Client -> server `CANCEL_ACCOUNT_SUMMARY` (63).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelAccountSummary {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

/// Server -> client `ACCOUNT_SUMMARY` (63).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AccountSummary {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(string, optional, tag = "2")]
    pub account: Option<String>,
    #[prost(string, optional, tag = "3")]
    pub tag: Option<String>,
    #[prost(string, optional, tag = "4")]
    pub value: Option<String>,
    #[prost(string, optional, tag = "5")]
    pub currency: Option<String>,
}

/// Server -> client `ACCOUNT_SUMMARY_END` (64).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct AccountSummaryEnd {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

// === Real-time bars ===

/// Client -> server `REQ_REAL_TIME_BARS` (50). ibapi sends `bar_size = Some(0)`.
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RealTimeBarsRequest {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    #[prost(message, optional, tag = "2")]
    pub contract: Option<Contract>,
    #[prost(int32, optional, tag = "3")]
    pub bar_size: Option<i32>,
    /// `TRADES`, `MIDPOINT`, `BID`, `ASK`.
    #[prost(string, optional, tag = "4")]
    pub what_to_show: Option<String>,
    #[prost(bool, optional, tag = "5")]
    pub use_rth: Option<bool>,
}

/// Client -> server `CANCEL_REAL_TIME_BARS` (51).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CancelRealTimeBars {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
}

/// Server -> client `REAL_TIME_BARS` (50).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct RealTimeBarTick {
    #[prost(int32, optional, tag = "1")]
    pub req_id: Option<i32>,
    /// Unix seconds (bar start).
    #[prost(int64, optional, tag = "2")]
    pub time: Option<i64>,
    #[prost(double, optional, tag = "3")]
    pub open: Option<f64>,
    #[prost(double, optional, tag = "4")]
    pub high: Option<f64>,
    #[prost(double, optional, tag = "5")]
    pub low: Option<f64>,
    #[prost(double, optional, tag = "6")]
    pub close: Option<f64>,
    /// Decimal string.
    #[prost(string, optional, tag = "7")]
    pub volume: Option<String>,
    /// Decimal string.
    #[prost(string, optional, tag = "8")]
    pub wap: Option<String>,
    #[prost(int32, optional, tag = "9")]
    pub count: Option<i32>,
}

// === Server time ===

/// `protobuf.CurrentTime`: the answer to `REQ_CURRENT_TIME` (Unix seconds).
#[derive(Clone, PartialEq, ::prost::Message)]
pub struct CurrentTime {
    #[prost(int64, optional, tag = "1")]
    pub current_time: Option<i64>,
}
