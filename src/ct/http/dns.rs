//! A per-executor DNS cache in front of the blocking system resolver.
//!
//! glommio has no async resolver and its `TcpStream::connect` would call getaddrinfo on the
//! executor thread, stalling every task on the core. Lookups therefore run on glommio's
//! blocking thread pool (`spawn_blocking`) and their answers are kept for
//! [`limits::DNS_CACHE_TTL`]. IP literals never reach the resolver. The caller drops an entry
//! when connecting to every cached address failed, so a moved log is found again.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use super::error::HttpError;
use crate::limits;

/// Addresses of one host, with when they were resolved.
#[derive(Debug, Clone)]
struct CachedAddrs {
    addrs: Vec<SocketAddr>,
    resolved_at: Instant,
}

/// Where a lookup answer came from (a cached answer may be stale and is worth re-resolving
/// after a connect failure; a fresh one is not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Literal,
    Cache,
    Resolver,
}

/// host → addresses, for one executor (`!Send`, interior mutability through `RefCell`).
#[derive(Debug)]
pub struct DnsCache {
    entries: RefCell<HashMap<String, CachedAddrs>>,
    ttl: Duration,
}

impl DnsCache {
    pub fn new(ttl: Duration) -> Self {
        DnsCache {
            entries: RefCell::new(HashMap::new()),
            ttl,
        }
    }

    /// Addresses of `host:port`, from the literal, the cache, or the resolver.
    pub async fn resolve(
        &self,
        host: &str,
        port: u16,
    ) -> Result<(Vec<SocketAddr>, Origin), HttpError> {
        if let Ok(ip) = host.parse::<IpAddr>() {
            return Ok((vec![SocketAddr::new(ip, port)], Origin::Literal));
        }
        if let Some(addrs) = self.cached(host, port, Instant::now()) {
            return Ok((addrs, Origin::Cache));
        }
        let addrs = resolve_blocking(host.to_owned(), port).await?;
        self.entries.borrow_mut().insert(
            host.to_owned(),
            CachedAddrs {
                addrs: addrs.clone(),
                resolved_at: Instant::now(),
            },
        );
        Ok((addrs, Origin::Resolver))
    }

    /// Forgets `host` (after every address failed to connect).
    pub fn forget(&self, host: &str) {
        self.entries.borrow_mut().remove(host);
    }

    /// A fresh cached answer with `port` applied (the cache is keyed by host only: one log host
    /// is reached on one port in practice, and the port is not part of the DNS answer).
    fn cached(&self, host: &str, port: u16, now: Instant) -> Option<Vec<SocketAddr>> {
        let mut entries = self.entries.borrow_mut();
        let entry = entries.get(host)?;
        if now.saturating_duration_since(entry.resolved_at) >= self.ttl {
            entries.remove(host);
            return None;
        }
        Some(
            entry
                .addrs
                .iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect(),
        )
    }

    #[cfg(test)]
    fn insert_at(&self, host: &str, addrs: Vec<SocketAddr>, resolved_at: Instant) {
        self.entries
            .borrow_mut()
            .insert(host.to_owned(), CachedAddrs { addrs, resolved_at });
    }
}

impl Default for DnsCache {
    fn default() -> Self {
        DnsCache::new(limits::DNS_CACHE_TTL)
    }
}

/// getaddrinfo on glommio's blocking pool; IPv4 first (many hosts publish AAAA records that
/// are unreachable from IPv4-only machines, and the connect loop tries only a few addresses).
async fn resolve_blocking(host: String, port: u16) -> Result<Vec<SocketAddr>, HttpError> {
    let lookup_host = host.clone();
    let result = glommio::executor()
        .spawn_blocking(move || {
            (lookup_host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect::<Vec<_>>())
        })
        .await;
    let mut addrs = result.map_err(|e| HttpError::Dns {
        host: host.clone(),
        detail: e.to_string(),
    })?;
    if addrs.is_empty() {
        return Err(HttpError::Dns {
            host,
            detail: "no addresses".into(),
        });
    }
    addrs.sort_by_key(|a| a.is_ipv6());
    addrs.dedup();
    Ok(addrs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T, Fut>(make: impl FnOnce() -> Fut + Send + 'static) -> T
    where
        T: Send + 'static,
        Fut: std::future::Future<Output = T> + 'static,
    {
        glommio::LocalExecutorBuilder::default()
            .spawn(make)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn literals_skip_the_resolver() {
        run(|| async {
            let cache = DnsCache::default();
            let (addrs, origin) = cache.resolve("127.0.0.1", 8080).await.unwrap();
            assert_eq!(addrs, vec!["127.0.0.1:8080".parse().unwrap()]);
            assert_eq!(origin, Origin::Literal);
            let (addrs, _) = cache.resolve("::1", 443).await.unwrap();
            assert_eq!(addrs, vec!["[::1]:443".parse().unwrap()]);
            assert!(cache.entries.borrow().is_empty());
        });
    }

    #[test]
    fn localhost_is_resolved_then_cached_then_forgotten() {
        run(|| async {
            let cache = DnsCache::default();
            let (addrs, origin) = cache.resolve("localhost", 1234).await.unwrap();
            assert_eq!(origin, Origin::Resolver);
            assert!(
                addrs
                    .iter()
                    .all(|a| a.ip().is_loopback() && a.port() == 1234),
                "{addrs:?}"
            );
            let (again, origin) = cache.resolve("localhost", 1234).await.unwrap();
            assert_eq!(origin, Origin::Cache);
            assert_eq!(again, addrs);
            cache.forget("localhost");
            assert_eq!(
                cache.resolve("localhost", 1234).await.unwrap().1,
                Origin::Resolver
            );
        });
    }

    #[test]
    fn expired_entries_are_dropped() {
        let cache = DnsCache::new(Duration::from_secs(10));
        let t0 = Instant::now();
        let addr: SocketAddr = "10.0.0.1:1".parse().unwrap();
        cache.insert_at("log.example", vec![addr], t0);
        let hit = cache.cached("log.example", 443, t0 + Duration::from_secs(9));
        assert_eq!(hit, Some(vec!["10.0.0.1:443".parse().unwrap()]));
        assert_eq!(
            cache.cached("log.example", 443, t0 + Duration::from_secs(10)),
            None
        );
        assert!(cache.entries.borrow().is_empty());
    }

    #[test]
    fn unknown_host_is_a_dns_error() {
        run(|| async {
            let cache = DnsCache::default();
            let err = cache
                .resolve("does-not-exist.invalid", 443)
                .await
                .unwrap_err();
            assert!(matches!(err, HttpError::Dns { .. }), "{err}");
            assert!(err.to_string().contains("does-not-exist.invalid"), "{err}");
        });
    }
}
