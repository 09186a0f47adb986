//! A client for any OpenAI-compatible chat-completions endpoint, with a strict
//! answer schema. Everything the endpoint can get wrong — down, slow, an error
//! status, a body too large, not JSON, JSON of the wrong shape, a sentiment that
//! is none, a confidence out of range — is an `LlmError`, never a panic.

use crate::logsafe::printable;
use crate::model::Sentiment;
use serde_json::{json, Value};
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub endpoint: String,
    pub model: String,
    /// Sent as `Authorization: Bearer`; never logged.
    pub api_key: Option<String>,
    pub timeout: Duration,
    pub max_response_bytes: usize,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    #[error("LLM endpoint unreachable: {0}")]
    Unreachable(String),
    #[error("LLM endpoint did not answer within {0:?}")]
    Timeout(Duration),
    #[error("LLM endpoint answered HTTP {status}: {body}")]
    Status { status: u16, body: String },
    #[error("LLM answer over {0} bytes")]
    TooLarge(usize),
    #[error("LLM answer unusable: {0}")]
    Garbage(String),
    #[error("LLM budget for today is spent")]
    OverBudget,
    #[error("too many LLM calls waiting")]
    Busy,
}

/// Tokens the endpoint says it used.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct LlmAnswer {
    pub sentiment: Sentiment,
    pub confidence: f64,
    pub usage: Usage,
}

pub struct LlmClient {
    http: reqwest::Client,
    cfg: LlmConfig,
}

const SYSTEM: &str =
    "You are a commodity futures analyst. Read the headline and answer only with a JSON object \
{\"sentiment\": \"bullish\" | \"bearish\" | \"neutral\", \"confidence\": <number from 0 to 1>} \
for the price of the named contract. No other text.";

impl LlmClient {
    pub fn new(cfg: LlmConfig) -> Result<LlmClient, String> {
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.timeout)
            .build()
            .map_err(|e| format!("cannot build the LLM HTTP client: {e}"))?;
        Ok(LlmClient { http, cfg })
    }

    /// One chat completion; returns the assistant's text and the usage.
    pub async fn complete(&self, system: &str, user: &str) -> Result<(String, Usage), LlmError> {
        let body = json!({
            "model": self.cfg.model,
            "temperature": 0,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
        });
        let mut req = self.http.post(&self.cfg.endpoint).json(&body);
        if let Some(k) = &self.cfg.api_key {
            req = req.bearer_auth(k);
        }
        let resp = req.send().await.map_err(|e| self.transport(e))?;
        let status = resp.status();
        if resp
            .content_length()
            .is_some_and(|n| n as usize > self.cfg.max_response_bytes)
        {
            return Err(LlmError::TooLarge(self.cfg.max_response_bytes));
        }
        let mut resp = resp;
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(|e| self.transport(e))? {
            bytes.extend_from_slice(&chunk);
            if bytes.len() > self.cfg.max_response_bytes {
                return Err(LlmError::TooLarge(self.cfg.max_response_bytes));
            }
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&bytes);
            return Err(LlmError::Status {
                status: status.as_u16(),
                body: printable(&text, 200).into_owned(),
            });
        }
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| LlmError::Garbage(format!("not JSON: {e}")))?;
        let content = v["choices"][0]["message"]["content"]
            .as_str()
            .ok_or_else(|| LlmError::Garbage("no choices[0].message.content".into()))?;
        let usage = Usage {
            prompt_tokens: v["usage"]["prompt_tokens"].as_u64().unwrap_or(0),
            completion_tokens: v["usage"]["completion_tokens"].as_u64().unwrap_or(0),
        };
        Ok((content.to_owned(), usage))
    }

    fn transport(&self, e: reqwest::Error) -> LlmError {
        if e.is_timeout() {
            LlmError::Timeout(self.cfg.timeout)
        } else {
            LlmError::Unreachable(e.to_string())
        }
    }

    /// The sentiment of one headline for `symbol`, with `context` (the day's
    /// macro summary) in the prompt.
    pub async fn analyze(
        &self,
        symbol: &str,
        headline: &str,
        context: &str,
    ) -> Result<LlmAnswer, LlmError> {
        let user = format!("Contract: {symbol}\nContext: {context}\nHeadline: {headline}");
        let (text, usage) = self.complete(SYSTEM, &user).await?;
        let (sentiment, confidence) = parse_answer(&text)?;
        Ok(LlmAnswer {
            sentiment,
            confidence,
            usage,
        })
    }
}

/// The strict answer schema: a JSON object with `sentiment` (bullish, bearish,
/// neutral) and `confidence` (0..=1); a code fence around it is tolerated,
/// nothing else is.
pub fn parse_answer(text: &str) -> Result<(Sentiment, f64), LlmError> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(t)
        .trim();
    let v: Value = serde_json::from_str(t).map_err(|e| {
        LlmError::Garbage(format!(
            "answer is not a JSON object ({e}): {}",
            printable(t, 80)
        ))
    })?;
    let sentiment = match v["sentiment"].as_str().map(str::to_lowercase).as_deref() {
        Some("bullish") => Sentiment::Bullish,
        Some("bearish") => Sentiment::Bearish,
        Some("neutral") => Sentiment::Neutral,
        other => {
            return Err(LlmError::Garbage(format!(
                "sentiment {} is not bullish, bearish or neutral",
                printable(&format!("{other:?}"), 80)
            )))
        }
    };
    let confidence = v["confidence"]
        .as_f64()
        .filter(|c| (0.0..=1.0).contains(c))
        .ok_or_else(|| {
            LlmError::Garbage(format!(
                "confidence {} is not a number from 0 to 1",
                printable(&v["confidence"].to_string(), 80)
            ))
        })?;
    Ok((sentiment, confidence))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_held_to_the_schema() {
        assert_eq!(
            parse_answer(r#"{"sentiment":"bullish","confidence":0.9}"#),
            Ok((Sentiment::Bullish, 0.9))
        );
        assert_eq!(
            parse_answer("```json\n{\"sentiment\":\"Bearish\",\"confidence\":0.4}\n```"),
            Ok((Sentiment::Bearish, 0.4))
        );
        for bad in [
            "I think bullish",
            r#"{"sentiment":"up","confidence":0.9}"#,
            r#"{"sentiment":"bullish","confidence":1.5}"#,
            r#"{"sentiment":"bullish","confidence":"high"}"#,
            r#"{"sentiment":"bullish"}"#,
            "[]",
            "",
        ] {
            assert!(
                matches!(parse_answer(bad), Err(LlmError::Garbage(_))),
                "{bad:?}"
            );
        }
    }
}
