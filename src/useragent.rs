//! User-Agent parsing into the device fields GitLab shows: browser, OS, device name and type
//! ("Mobile Safari on iOS", "iPhone", "smartphone").
//!
//! The parser is `ua-parser` with uap-core's `regexes.yaml` (Apache-2.0, in `data/uap-core/`),
//! chosen by measurement: see `docs/user-agent-parser.md`. Its regexes compile on first use
//! (about 170 ms), so commands that never parse a User-Agent never pay for it; parsed results
//! are cached, since real traffic repeats a few hundred User-Agents.

use std::collections::HashMap;
use std::sync::{LazyLock, Mutex};

use compact_str::CompactString;

/// What a User-Agent says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub browser: CompactString,
    pub os: CompactString,
    pub device_name: CompactString,
    pub device_type: CompactString,
}

const REGEXES: &str = include_str!("../data/uap-core/regexes.yaml");

/// How many distinct User-Agents the cache holds before it starts over.
const CACHE_SIZE: usize = 4096;

static PARSER: LazyLock<ua_parser::Extractor<'static>> = LazyLock::new(|| {
    let regexes: ua_parser::Regexes<'static> =
        serde_yaml_ng::from_str(REGEXES).expect("the embedded regexes.yaml parses");
    ua_parser::Extractor::try_from(regexes).expect("the embedded regexes compile")
});

static CACHE: LazyLock<Mutex<HashMap<String, Device>>> = LazyLock::new(Mutex::default);

/// Parses a User-Agent (cut to length by the caller).
pub fn parse(user_agent: &str) -> Device {
    if let Some(device) = CACHE.lock().expect("cache lock").get(user_agent) {
        return device.clone();
    }
    let device = parse_uncached(user_agent);
    let mut cache = CACHE.lock().expect("cache lock");
    if cache.len() >= CACHE_SIZE {
        cache.clear();
    }
    cache.insert(user_agent.to_owned(), device.clone());
    device
}

fn parse_uncached(user_agent: &str) -> Device {
    let (browser, os, device) = PARSER.extract(user_agent);
    let browser = browser.map_or_else(|| "Unknown".to_owned(), |b| b.family.into_owned());
    let os = os.map_or_else(|| "Unknown".to_owned(), |o| o.os.into_owned());
    let (device_name, brand) = device.map_or((None, None), |d| {
        (
            Some(d.device.into_owned()).filter(|name| name != "Other"),
            d.brand,
        )
    });
    let device_type = device_type(
        user_agent,
        &browser,
        &os,
        device_name.as_deref(),
        brand.is_some(),
    );
    Device {
        browser: unknown_if_other(browser).into(),
        os: unknown_if_other(os).into(),
        device_name: device_name.as_deref().unwrap_or("Unknown").into(),
        device_type: device_type.into(),
    }
}

fn unknown_if_other(value: String) -> String {
    if value == "Other" {
        "Unknown".to_owned()
    } else {
        value
    }
}

const TV_MARKERS: [&str; 14] = [
    "hbbtv",
    "smarttv",
    "smart-tv",
    "crkey",
    "googletv",
    "roku",
    "appletv",
    "web0s",
    "netcast",
    "playstation",
    "xbox",
    "nintendo",
    "aftb",
    "bravia",
];

const MOBILE_OSES: [&str; 16] = [
    "iOS",
    "Android",
    "Windows Phone",
    "Windows Mobile",
    "BlackBerry OS",
    "Symbian OS",
    "Firefox OS",
    "KaiOS",
    "Bada",
    "Tizen",
    "Sailfish",
    "webOS",
    "Nokia Series 40",
    "BREW",
    "MeeGo",
    "Maemo",
];

const DESKTOP_OSES: [&str; 16] = [
    "Mac OS X",
    "Mac OS",
    "Linux",
    "Ubuntu",
    "Debian",
    "Fedora",
    "Chrome OS",
    "FreeBSD",
    "OpenBSD",
    "NetBSD",
    "Solaris",
    "Gentoo",
    "Mint",
    "CentOS",
    "Red Hat",
    "SUSE",
];

/// uap-core has no device type; derive GitLab's kinds (desktop, smartphone, tablet, bot,
/// other, unknown) from the parsed fields and well-known markers.
fn device_type(
    user_agent: &str,
    browser: &str,
    os: &str,
    device: Option<&str>,
    branded: bool,
) -> &'static str {
    let ua = user_agent.to_ascii_lowercase();
    let device = device.unwrap_or("");
    if device == "Spider" || ["bot", "crawler", "spider"].iter().any(|m| ua.contains(m)) {
        return "bot";
    }
    if TV_MARKERS.iter().any(|m| ua.contains(m))
        || matches!(
            os,
            "GoogleTV" | "Roku" | "tvOS" | "Chromecast" | "PlayStation"
        )
    {
        return "tv";
    }
    let desktop_os = os.starts_with("Windows") && !os.contains("Phone") && !os.contains("Mobile")
        || DESKTOP_OSES.contains(&os);
    let tablet = device.contains("iPad")
        || device.contains("Kindle")
        || ["tablet", "ipad", "silk/"].iter().any(|m| ua.contains(m))
        || (os == "Android" && !ua.contains("mobile"));
    if tablet && !desktop_os {
        return "tablet";
    }
    if MOBILE_OSES.contains(&os)
        || ["mobile", "mobi", "iphone"].iter().any(|m| ua.contains(m))
        || (branded && !device.is_empty() && device != "Mac")
    {
        return "smartphone";
    }
    if desktop_os {
        return "desktop";
    }
    if os == "Unknown" && browser == "Unknown" {
        "unknown"
    } else {
        "other"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitlab_examples() {
        let iphone = parse(
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(
            (
                iphone.browser.as_str(),
                iphone.os.as_str(),
                iphone.device_name.as_str(),
                iphone.device_type.as_str()
            ),
            ("Mobile Safari", "iOS", "iPhone", "smartphone")
        );
        let firefox =
            parse("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0");
        assert_eq!(
            (
                firefox.browser.as_str(),
                firefox.os.as_str(),
                firefox.device_type.as_str()
            ),
            ("Firefox", "Ubuntu", "desktop")
        );
        let ipad = parse(
            "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1",
        );
        assert_eq!(ipad.device_type, "tablet");
        let bot = parse("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)");
        assert_eq!(bot.device_type, "bot");
        let nothing = parse("");
        assert_eq!(
            (nothing.browser.as_str(), nothing.device_type.as_str()),
            ("Unknown", "unknown")
        );
    }

    /// Accuracy on the uap-core test cases in `tests/data/user_agents.tsv` (see
    /// `docs/user-agent-parser.md`): labelled browser and OS families must match.
    #[test]
    fn published_test_cases() {
        let data = include_str!("../tests/data/user_agents.tsv");
        let (mut checked, mut right) = (0, 0);
        for line in data.lines().skip(1) {
            let mut fields = line.split('\t');
            let (Some(ua), Some(browser), Some(os)) = (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let device = parse_uncached(ua);
            for (want, got) in [(browser, &device.browser), (os, &device.os)] {
                if !want.is_empty() {
                    checked += 1;
                    let want = if want == "Other" { "Unknown" } else { want };
                    right += usize::from(want == got);
                }
            }
        }
        assert!(checked > 800, "{checked}");
        assert!(right * 100 >= checked * 99, "{right}/{checked} right");
    }
}
