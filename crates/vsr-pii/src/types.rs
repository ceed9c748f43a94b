//! The PII type vocabulary and its mapping onto the names used in router configs.

use std::fmt;
use std::str::FromStr;

/// A kind of personally identifiable information.
///
/// The config name of each type ([`PiiType::as_config_name`]) is the label the original router's
/// token classifier emits (its `pii_type_mapping.json`), so `pii_types_allowed` lists written for
/// the original keep their meaning. Types this crate adds (CN resident ID, API keys) get names in
/// the same style. Some vocabulary types are accepted in configs but never detected here; see
/// [`PiiType::is_detected`].
///
/// Declaration order is the tie-break priority when two equally confident matches overlap: the
/// more specific (checksum-carrying) formats come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PiiType {
    /// `EMAIL_ADDRESS`
    EmailAddress,
    /// `API_KEY`: API keys, access tokens, private-key blocks and `secret = …` assignments.
    ApiKey,
    /// `IBAN_CODE`
    IbanCode,
    /// `CN_RESIDENT_ID`: the 18-character PRC resident identity card number (GB 11643).
    CnResidentId,
    /// `CREDIT_CARD`
    CreditCard,
    /// `US_SSN`
    UsSsn,
    /// `PHONE_NUMBER`
    PhoneNumber,
    /// `IP_ADDRESS` (v4 and v6)
    IpAddress,
    /// `STREET_ADDRESS`
    StreetAddress,
    /// `PERSON`
    Person,
    /// `GPE` (geo-political entity: city, province, country); `LOCATION` is accepted too.
    Location,
    /// `AGE` (vocabulary only: not detected)
    Age,
    /// `DATE_TIME` (vocabulary only: not detected)
    DateTime,
    /// `DOMAIN_NAME` (vocabulary only: not detected)
    DomainName,
    /// `NRP`: nationality, religious or political group (vocabulary only: not detected)
    Nrp,
    /// `ORGANIZATION` (vocabulary only: not detected)
    Organization,
    /// `US_DRIVER_LICENSE` (vocabulary only: not detected)
    UsDriverLicense,
    /// `ZIP_CODE` (vocabulary only: not detected)
    ZipCode,
}

impl PiiType {
    /// Every type, in priority order.
    pub const ALL: [PiiType; 18] = [
        PiiType::EmailAddress,
        PiiType::ApiKey,
        PiiType::IbanCode,
        PiiType::CnResidentId,
        PiiType::CreditCard,
        PiiType::UsSsn,
        PiiType::PhoneNumber,
        PiiType::IpAddress,
        PiiType::StreetAddress,
        PiiType::Person,
        PiiType::Location,
        PiiType::Age,
        PiiType::DateTime,
        PiiType::DomainName,
        PiiType::Nrp,
        PiiType::Organization,
        PiiType::UsDriverLicense,
        PiiType::ZipCode,
    ];

    /// The types [`crate::detect`] can report.
    pub const DETECTED: [PiiType; 11] = [
        PiiType::EmailAddress,
        PiiType::ApiKey,
        PiiType::IbanCode,
        PiiType::CnResidentId,
        PiiType::CreditCard,
        PiiType::UsSsn,
        PiiType::PhoneNumber,
        PiiType::IpAddress,
        PiiType::StreetAddress,
        PiiType::Person,
        PiiType::Location,
    ];

    /// The canonical upper-case name used in configs (`pii_types_allowed`).
    pub fn as_config_name(self) -> &'static str {
        self.names()[0]
    }

    /// Whether [`crate::detect`] has a recogniser for this type.
    pub fn is_detected(self) -> bool {
        Self::DETECTED.contains(&self)
    }

    /// Parses a config name. Case, `-`, `_` and spaces are ignored, so `EMAIL_ADDRESS`,
    /// `email-address`, `EmailAddress` and the short aliases (`EMAIL`, `SSN`, `IBAN`, `LOCATION`,
    /// `SECRET`, …) all resolve. BIO prefixes (`B-`, `I-`, `E-`, `S-`) from token-classifier
    /// labels are stripped.
    pub fn from_config_name(name: &str) -> Option<PiiType> {
        let lookup = |candidate: &str| {
            let key = squash(candidate);
            if key.is_empty() {
                return None;
            }
            Self::ALL
                .into_iter()
                .find(|t| t.names().iter().any(|alias| squash(alias) == key))
        };
        let trimmed = name.trim();
        lookup(trimmed).or_else(|| match trimmed.as_bytes() {
            [
                b'B' | b'I' | b'E' | b'S' | b'b' | b'i' | b'e' | b's',
                b'-',
                ..,
            ] => lookup(&trimmed[2..]),
            _ => None,
        })
    }

    /// Canonical name first, then accepted aliases.
    fn names(self) -> &'static [&'static str] {
        match self {
            PiiType::EmailAddress => &["EMAIL_ADDRESS", "EMAIL"],
            PiiType::ApiKey => &[
                "API_KEY",
                "SECRET",
                "API_SECRET",
                "AUTH_SECRET",
                "ACCESS_TOKEN",
                "TOKEN",
                "PASSWORD",
                "CREDENTIAL",
                "CREDENTIALS",
                "PRIVATE_KEY",
            ],
            PiiType::IbanCode => &["IBAN_CODE", "IBAN"],
            PiiType::CnResidentId => &[
                "CN_RESIDENT_ID",
                "CN_ID_CARD",
                "CN_ID",
                "CHINESE_ID",
                "CN_RESIDENT_IDENTITY_CARD",
            ],
            PiiType::CreditCard => &["CREDIT_CARD", "CREDIT_CARD_NUMBER", "CARD_NUMBER"],
            PiiType::UsSsn => &["US_SSN", "SSN", "SOCIAL_SECURITY_NUMBER"],
            PiiType::PhoneNumber => &["PHONE_NUMBER", "PHONE", "TELEPHONE", "MOBILE"],
            PiiType::IpAddress => &["IP_ADDRESS", "IP", "IPV4", "IPV6"],
            PiiType::StreetAddress => &["STREET_ADDRESS", "ADDRESS"],
            PiiType::Person => &["PERSON", "NAME", "PERSON_NAME"],
            PiiType::Location => &["GPE", "LOCATION"],
            PiiType::Age => &["AGE"],
            PiiType::DateTime => &["DATE_TIME", "DATE"],
            PiiType::DomainName => &["DOMAIN_NAME", "DOMAIN"],
            PiiType::Nrp => &["NRP"],
            PiiType::Organization => &["ORGANIZATION", "ORGANISATION", "ORG"],
            PiiType::UsDriverLicense => &["US_DRIVER_LICENSE", "DRIVER_LICENSE"],
            PiiType::ZipCode => &["ZIP_CODE", "ZIP", "POSTAL_CODE"],
        }
    }

    /// Position in priority order (lower wins ties).
    pub(crate) fn priority(self) -> usize {
        Self::ALL
            .iter()
            .position(|t| *t == self)
            .unwrap_or(usize::MAX)
    }
}

/// Upper-cases and drops separators so spellings compare equal.
fn squash(name: &str) -> String {
    name.chars()
        .filter(|c| !matches!(c, '_' | '-' | ' '))
        .flat_map(char::to_uppercase)
        .collect()
}

impl fmt::Display for PiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_config_name())
    }
}

/// Error for a name that is not in the PII vocabulary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownPiiType(pub String);

impl fmt::Display for UnknownPiiType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "unknown PII type `{}`", self.0)
    }
}

impl std::error::Error for UnknownPiiType {}

impl FromStr for PiiType {
    type Err = UnknownPiiType;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PiiType::from_config_name(s).ok_or_else(|| UnknownPiiType(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_names_round_trip() {
        for t in PiiType::ALL {
            assert_eq!(PiiType::from_config_name(t.as_config_name()), Some(t));
        }
    }

    #[test]
    fn original_vocabulary_is_accepted() {
        // The labels of the original's PII token classifier.
        for name in [
            "AGE",
            "CREDIT_CARD",
            "DATE_TIME",
            "DOMAIN_NAME",
            "EMAIL_ADDRESS",
            "GPE",
            "IBAN_CODE",
            "IP_ADDRESS",
            "NRP",
            "ORGANIZATION",
            "PERSON",
            "PHONE_NUMBER",
            "STREET_ADDRESS",
            "US_DRIVER_LICENSE",
            "US_SSN",
            "ZIP_CODE",
        ] {
            let t = PiiType::from_config_name(name).expect(name);
            assert_eq!(t.as_config_name(), name);
        }
    }

    #[test]
    fn aliases_and_spellings() {
        assert_eq!(
            PiiType::from_config_name("email"),
            Some(PiiType::EmailAddress)
        );
        assert_eq!(
            PiiType::from_config_name("EmailAddress"),
            Some(PiiType::EmailAddress)
        );
        assert_eq!(
            PiiType::from_config_name(" email-address "),
            Some(PiiType::EmailAddress)
        );
        assert_eq!(
            PiiType::from_config_name("LOCATION"),
            Some(PiiType::Location)
        );
        assert_eq!(PiiType::from_config_name("iban"), Some(PiiType::IbanCode));
        assert_eq!(PiiType::from_config_name("ssn"), Some(PiiType::UsSsn));
        assert_eq!(PiiType::from_config_name("B-PERSON"), Some(PiiType::Person));
        assert_eq!(PiiType::from_config_name("i-us_ssn"), Some(PiiType::UsSsn));
        assert_eq!(PiiType::from_config_name("secret"), Some(PiiType::ApiKey));
        assert_eq!(PiiType::from_config_name("NO_PII"), None);
        assert_eq!(PiiType::from_config_name(""), None);
        assert_eq!(PiiType::from_config_name("-"), None);
        assert!("BANANA".parse::<PiiType>().is_err());
    }

    #[test]
    fn aliases_are_unambiguous() {
        let mut seen = std::collections::HashMap::new();
        for t in PiiType::ALL {
            for alias in t.names() {
                if let Some(prev) = seen.insert(squash(alias), t) {
                    panic!("alias {alias} used by {prev:?} and {t:?}");
                }
            }
        }
    }
}
