//! What a session's `User-Agent` says about the browser and device, for a member's list of
//! sessions and for telling a new device from a known one. Coarse on purpose: the family and
//! major version of the browser, the operating system, and the kind of device.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    Desktop,
    Mobile,
    Tablet,
    Bot,
    Unknown,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Device {
    /// `Chrome 131`, `Safari 18`, `Firefox 133`, `Edge 131`, `curl 8` ... or `unknown`.
    pub browser: String,
    /// `Windows`, `macOS`, `iOS`, `Android`, `Linux`, `ChromeOS` or `unknown`.
    pub os: String,
    pub kind: DeviceKind,
}

impl Device {
    pub fn parse(user_agent: &str) -> Self {
        Self { browser: browser(user_agent), os: os(user_agent).into(), kind: kind(user_agent) }
    }

    /// The same browser family on the same system and kind of device: what "a known device"
    /// means (a browser's version moves every month).
    pub fn same_device(&self, other: &Device) -> bool {
        let family = |b: &str| b.split(' ').next().unwrap_or_default().to_owned();
        family(&self.browser) == family(&other.browser) && self.os == other.os && self.kind == other.kind
    }
}

/// The major version after `token` (`Chrome/131.0.6778.86` gives `131`).
fn major(ua: &str, token: &str) -> Option<String> {
    let rest = &ua[ua.find(token)? + token.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    (!digits.is_empty()).then_some(digits)
}

fn browser(ua: &str) -> String {
    // Order matters: Edge and Opera also say Chrome, Chrome also says Safari.
    const FAMILIES: [(&str, &str); 9] = [
        ("Edg/", "Edge"),
        ("EdgA/", "Edge"),
        ("OPR/", "Opera"),
        ("SamsungBrowser/", "Samsung Internet"),
        ("Firefox/", "Firefox"),
        ("FxiOS/", "Firefox"),
        ("CriOS/", "Chrome"),
        ("Chrome/", "Chrome"),
        ("curl/", "curl"),
    ];
    for (token, name) in FAMILIES {
        if let Some(version) = major(ua, token) {
            return format!("{name} {version}");
        }
    }
    if ua.contains("Safari/") {
        return match major(ua, "Version/") {
            Some(version) => format!("Safari {version}"),
            None => "Safari".into(),
        };
    }
    "unknown".into()
}

fn os(ua: &str) -> &'static str {
    if ua.contains("iPhone") || ua.contains("iPad") || ua.contains("iPod") {
        "iOS"
    } else if ua.contains("Android") {
        "Android"
    } else if ua.contains("CrOS") {
        "ChromeOS"
    } else if ua.contains("Windows") {
        "Windows"
    } else if ua.contains("Mac OS X") || ua.contains("Macintosh") {
        "macOS"
    } else if ua.contains("Linux") {
        "Linux"
    } else {
        "unknown"
    }
}

fn kind(ua: &str) -> DeviceKind {
    let lower = ua.to_ascii_lowercase();
    if ["bot", "crawler", "spider", "curl/", "wget/", "python-requests"].iter().any(|b| lower.contains(b)) {
        DeviceKind::Bot
    } else if ua.contains("iPad") || (ua.contains("Android") && !ua.contains("Mobile")) {
        DeviceKind::Tablet
    } else if ua.contains("Mobi") || ua.contains("iPhone") {
        DeviceKind::Mobile
    } else if os(ua) == "unknown" {
        DeviceKind::Unknown
    } else {
        DeviceKind::Desktop
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_browsers_are_told_apart() {
        let cases = [
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
                "Chrome 131",
                "Windows",
                DeviceKind::Desktop,
            ),
            (
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.2903.86",
                "Edge 131",
                "Windows",
                DeviceKind::Desktop,
            ),
            (
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
                "Safari 18",
                "iOS",
                DeviceKind::Mobile,
            ),
            (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15",
                "Safari 18",
                "macOS",
                DeviceKind::Desktop,
            ),
            (
                "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.6778.81 Mobile Safari/537.36",
                "Chrome 131",
                "Android",
                DeviceKind::Mobile,
            ),
            (
                "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
                "Chrome 130",
                "Android",
                DeviceKind::Tablet,
            ),
            (
                "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0",
                "Firefox 133",
                "Linux",
                DeviceKind::Desktop,
            ),
            ("curl/8.5.0", "curl 8", "unknown", DeviceKind::Bot),
            ("", "unknown", "unknown", DeviceKind::Unknown),
        ];
        for (ua, browser, os, kind) in cases {
            assert_eq!(Device::parse(ua), Device { browser: browser.into(), os: os.into(), kind }, "{ua}");
        }
    }

    #[test]
    fn a_browser_update_is_the_same_device_another_browser_is_not() {
        let old =
            Device::parse("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/130.0.0.0 Safari/537.36");
        let new =
            Device::parse("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0.0.0 Safari/537.36");
        let firefox = Device::parse("Mozilla/5.0 (Windows NT 10.0; rv:133.0) Gecko/20100101 Firefox/133.0");
        assert!(old.same_device(&new));
        assert!(!old.same_device(&firefox));
    }

    proptest::proptest! {
        #[test]
        fn any_text_parses_without_panicking(ua in ".{0,300}") {
            let device = Device::parse(&ua);
            proptest::prop_assert!(!device.browser.is_empty());
        }
    }
}
