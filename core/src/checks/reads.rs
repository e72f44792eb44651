//! What a site's readers read: the choice behind the `ok-scripts` and
//! `ok-languages` options ([`super::scripts`], [`super::language`]).

use std::collections::BTreeMap;

/// Some of a list of names (writing systems, languages), as a bit set
/// over the list, or all of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reads(u32);

impl Default for Reads {
    /// Everything: the check that asks is off.
    fn default() -> Self {
        Reads(u32::MAX)
    }
}

/// How an option names what it chooses among.
#[derive(Debug)]
pub struct Choice {
    /// The pack option.
    pub option: &'static str,
    /// The names a value may list (at most 32).
    pub names: &'static [&'static str],
    /// What one name is, for errors ("a writing system").
    pub one: &'static str,
    /// What every name is, for errors ("writing system").
    pub each: &'static str,
}

impl Choice {
    /// Parses a value: `all`, or names separated by commas or spaces
    /// (any case).
    pub fn parse(&self, value: &str) -> Result<Reads, String> {
        let value = value.trim();
        if value.eq_ignore_ascii_case("all") {
            return Ok(Reads::default());
        }
        let mut bits = 0u32;
        for name in value.split([',', ' ']).filter(|s| !s.is_empty()) {
            let Some(i) = self.names.iter().position(|s| s.eq_ignore_ascii_case(name)) else {
                return Err(format!(
                    "option {}: {name:?} is not {}; use \"all\" or some of {}",
                    self.option,
                    self.one,
                    self.names.join(", ")
                ));
            };
            bits |= 1 << i;
        }
        if bits == 0 {
            return Err(format!(
                "option {} is empty; use \"all\" to read every {}",
                self.option, self.each
            ));
        }
        Ok(Reads(bits))
    }

    /// The option's value in the pack's or the settings' options; all when
    /// it is not there (a pack without the option).
    pub fn from_options(&self, options: &BTreeMap<String, String>) -> Result<Reads, String> {
        options
            .get(self.option)
            .map_or(Ok(Reads::default()), |v| self.parse(v))
    }
}

impl Reads {
    /// True when the site reads everything (the check is off).
    pub fn is_all(self) -> bool {
        self.0 == u32::MAX
    }

    /// True when the site reads name number `i`.
    pub fn reads(self, i: usize) -> bool {
        i < 32 && self.0 & (1 << i) != 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FRUIT: Choice = Choice {
        option: "ok-fruit",
        names: &["apple", "pear", "plum"],
        one: "a fruit",
        each: "fruit",
    };

    #[test]
    fn values_are_all_or_some_names() {
        let cases: &[(&str, Result<&[usize], &str>)] = &[
            ("all", Ok(&[0, 1, 2])),
            (" ALL ", Ok(&[0, 1, 2])),
            ("pear", Ok(&[1])),
            ("Apple, plum", Ok(&[0, 2])),
            ("apple plum,pear", Ok(&[0, 1, 2])),
            (
                "apple;pear",
                Err(
                    "option ok-fruit: \"apple;pear\" is not a fruit; use \"all\" or some of apple, pear, plum",
                ),
            ),
            (
                "",
                Err("option ok-fruit is empty; use \"all\" to read every fruit"),
            ),
            (
                " , ",
                Err("option ok-fruit is empty; use \"all\" to read every fruit"),
            ),
        ];
        for (value, want) in cases {
            match (FRUIT.parse(value), want) {
                (Ok(r), Ok(names)) => {
                    let got: Vec<usize> = (0..3).filter(|&i| r.reads(i)).collect();
                    assert_eq!(&got, names, "{value:?}");
                    assert_eq!(r.is_all(), value.trim().eq_ignore_ascii_case("all"), "{value:?}");
                }
                (Err(e), Err(msg)) => assert_eq!(&e, msg, "{value:?}"),
                (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn a_missing_option_reads_everything() {
        let mut options = BTreeMap::new();
        assert!(FRUIT.from_options(&options).unwrap().is_all());
        options.insert("ok-fruit".to_string(), "plum".to_string());
        let r = FRUIT.from_options(&options).unwrap();
        assert!(r.reads(2) && !r.reads(0) && !r.is_all());
    }
}
