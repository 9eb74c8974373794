//! User-Agent parsing into the device fields GitLab shows: browser, OS, device name and type.

/// What a User-Agent says about the device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub browser: String,
    pub os: String,
    pub device_name: String,
    pub device_type: String,
}

pub fn parse(_user_agent: &str) -> Device {
    Device {
        browser: "Unknown".into(),
        os: "Unknown".into(),
        device_name: "Unknown".into(),
        device_type: "unknown".into(),
    }
}
