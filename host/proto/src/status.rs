//! The small vocabulary of SCEP's signed attributes (RFC 8894 §3.2.1): message types,
//! status values, failure reasons, and the rejection a server sends back.

use std::fmt;

/// messageType (RFC 8894 §3.2.1.2). Carried as a decimal PrintableString.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    CertRep = 3,
    RenewalReq = 17,
    PkcsReq = 19,
    CertPoll = 20,
    GetCert = 21,
    GetCrl = 22,
}

impl MessageType {
    /// The number sent on the wire.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn from_code(code: u32) -> Option<Self> {
        Some(match code {
            3 => Self::CertRep,
            17 => Self::RenewalReq,
            19 => Self::PkcsReq,
            20 => Self::CertPoll,
            21 => Self::GetCert,
            22 => Self::GetCrl,
            _ => return None,
        })
    }

    /// The attribute's text form ("19"); leading zeros and surrounding spaces are
    /// tolerated because the value is defined as a number, not as a string.
    pub fn from_text(text: &str) -> Option<Self> {
        text.trim().parse::<u32>().ok().and_then(Self::from_code)
    }

    /// The name RFC 8894 uses.
    pub fn name(self) -> &'static str {
        match self {
            Self::CertRep => "CertRep",
            Self::RenewalReq => "RenewalReq",
            Self::PkcsReq => "PKCSReq",
            Self::CertPoll => "CertPoll",
            Self::GetCert => "GetCert",
            Self::GetCrl => "GetCRL",
        }
    }
}

impl fmt::Display for MessageType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// pkiStatus (RFC 8894 §3.2.1.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PkiStatus {
    Success,
    Failure,
    Pending,
}

impl PkiStatus {
    /// The PrintableString sent on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::Success => "0",
            Self::Failure => "2",
            Self::Pending => "3",
        }
    }

    pub fn from_text(text: &str) -> Option<Self> {
        match text.trim().parse::<u32>().ok()? {
            0 => Some(Self::Success),
            2 => Some(Self::Failure),
            3 => Some(Self::Pending),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Success => "SUCCESS",
            Self::Failure => "FAILURE",
            Self::Pending => "PENDING",
        }
    }
}

impl fmt::Display for PkiStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// failInfo (RFC 8894 §3.2.1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailInfo {
    BadAlg,
    BadMessageCheck,
    BadRequest,
    BadTime,
    BadCertId,
}

impl FailInfo {
    /// The PrintableString sent on the wire.
    pub fn code(self) -> &'static str {
        match self {
            Self::BadAlg => "0",
            Self::BadMessageCheck => "1",
            Self::BadRequest => "2",
            Self::BadTime => "3",
            Self::BadCertId => "4",
        }
    }

    pub fn from_text(text: &str) -> Option<Self> {
        Some(match text.trim().parse::<u32>().ok()? {
            0 => Self::BadAlg,
            1 => Self::BadMessageCheck,
            2 => Self::BadRequest,
            3 => Self::BadTime,
            4 => Self::BadCertId,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::BadAlg => "badAlg",
            Self::BadMessageCheck => "badMessageCheck",
            Self::BadRequest => "badRequest",
            Self::BadTime => "badTime",
            Self::BadCertId => "badCertId",
        }
    }
}

impl fmt::Display for FailInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a request is refused: the failInfo to send and a reason for people (logs, the
/// optional failInfoText). The reason never contains secrets or key material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    pub fail_info: FailInfo,
    pub reason: String,
}

impl Rejection {
    pub fn new(fail_info: FailInfo, reason: impl Into<String>) -> Self {
        Self {
            fail_info,
            reason: reason.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.fail_info, self.reason)
    }
}

impl std::error::Error for Rejection {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_codes_round_trip() {
        for t in [
            MessageType::CertRep,
            MessageType::RenewalReq,
            MessageType::PkcsReq,
            MessageType::CertPoll,
            MessageType::GetCert,
            MessageType::GetCrl,
        ] {
            assert_eq!(MessageType::from_text(&t.code().to_string()), Some(t));
        }
        assert_eq!(MessageType::from_text("019"), Some(MessageType::PkcsReq));
        assert_eq!(MessageType::from_text("4"), None);
        for s in [PkiStatus::Success, PkiStatus::Failure, PkiStatus::Pending] {
            assert_eq!(PkiStatus::from_text(s.code()), Some(s));
        }
        assert_eq!(PkiStatus::from_text("1"), None);
        assert_eq!(FailInfo::from_text("4"), Some(FailInfo::BadCertId));
        assert_eq!(FailInfo::BadAlg.to_string(), "badAlg");
        assert_eq!(
            Rejection::new(FailInfo::BadRequest, "no challenge").to_string(),
            "badRequest: no challenge"
        );
    }
}
