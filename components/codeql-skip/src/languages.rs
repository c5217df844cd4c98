//! CodeQL languages: their names and aliases, whether they are compiled, and which file extensions
//! hold their sources.

use std::collections::BTreeSet;
use std::fmt;

/// A language CodeQL analyses, under its canonical CLI name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Language {
    /// GitHub Actions workflows and actions.
    Actions,
    /// C and C++.
    CCpp,
    /// C#.
    CSharp,
    /// Go.
    Go,
    /// Java and Kotlin.
    JavaKotlin,
    /// JavaScript and TypeScript.
    JavascriptTypescript,
    /// Python.
    Python,
    /// Ruby.
    Ruby,
    /// Rust.
    Rust,
    /// Swift.
    Swift,
}

impl Language {
    /// Every language, so tables keyed by language can be checked for completeness.
    pub const ALL: [Language; 10] = [
        Language::Actions,
        Language::CCpp,
        Language::CSharp,
        Language::Go,
        Language::JavaKotlin,
        Language::JavascriptTypescript,
        Language::Python,
        Language::Ruby,
        Language::Rust,
        Language::Swift,
    ];

    /// Parses a canonical name or one of the aliases the CodeQL CLI accepts.
    pub fn parse(name: &str) -> Option<Language> {
        Some(match name.trim().to_ascii_lowercase().as_str() {
            "actions" => Language::Actions,
            "c-cpp" | "c" | "cpp" | "c++" => Language::CCpp,
            "csharp" | "c#" => Language::CSharp,
            "go" => Language::Go,
            "java-kotlin" | "java" | "kotlin" => Language::JavaKotlin,
            "javascript-typescript" | "javascript" | "typescript" => Language::JavascriptTypescript,
            "python" => Language::Python,
            "ruby" => Language::Ruby,
            "rust" => Language::Rust,
            "swift" => Language::Swift,
            _ => return None,
        })
    }

    /// The canonical CodeQL name.
    pub fn name(self) -> &'static str {
        match self {
            Language::Actions => "actions",
            Language::CCpp => "c-cpp",
            Language::CSharp => "csharp",
            Language::Go => "go",
            Language::JavaKotlin => "java-kotlin",
            Language::JavascriptTypescript => "javascript-typescript",
            Language::Python => "python",
            Language::Ruby => "ruby",
            Language::Rust => "rust",
            Language::Swift => "swift",
        }
    }

    /// Compiled languages are extracted by watching a build unless build mode is `none`, so
    /// whatever the build reads can change the database.
    pub fn is_compiled(self) -> bool {
        matches!(
            self,
            Language::CCpp
                | Language::CSharp
                | Language::Go
                | Language::JavaKotlin
                | Language::Rust
                | Language::Swift
        )
    }

    /// Lower-case extensions (without the dot) of files the extractor reads. Longer than the
    /// obvious list on purpose: an extension missing here could let a source change be skipped.
    pub fn source_extensions(self) -> &'static [&'static str] {
        match self {
            // Workflows are recognised by path, not extension; see `files`.
            Language::Actions => &[],
            Language::CCpp => &[
                "c", "cc", "cpp", "cxx", "c++", "cppm", "ixx", "h", "hh", "hpp", "hxx", "h++",
                "inl", "ipp", "tcc", "tpp",
            ],
            Language::CSharp => &["cs", "cshtml", "razor", "xaml", "config"],
            Language::Go => &["go"],
            // The Java extractor also indexes XML and properties files.
            Language::JavaKotlin => &["java", "kt", "kts", "jsp", "properties", "xml"],
            // The JavaScript extractor reads HTML and JSON, and templates with embedded script.
            Language::JavascriptTypescript => &[
                "js", "jsx", "mjs", "cjs", "ts", "tsx", "mts", "cts", "vue", "html", "htm",
                "xhtml", "xhtm", "json", "ejs", "hbs", "njk",
            ],
            Language::Python => &["py", "pyi", "pyw"],
            Language::Ruby => &["rb", "erb", "rake", "gemspec", "ru"],
            Language::Rust => &["rs"],
            Language::Swift => &["swift"],
        }
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Normalises a list of language names into a set, or names the first one that is unknown.
pub fn parse_set(names: &[String]) -> Result<BTreeSet<Language>, String> {
    names
        .iter()
        .map(|name| Language::parse(name).ok_or_else(|| name.clone()))
        .collect()
}

/// Renders a set as `a, b, c` for reasons.
pub fn render(set: &BTreeSet<Language>) -> String {
    let names: Vec<&str> = set.iter().map(|l| l.name()).collect();
    names.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn aliases_normalise_to_canonical_names() {
        let cases = [
            ("javascript", Language::JavascriptTypescript),
            ("typescript", Language::JavascriptTypescript),
            ("java", Language::JavaKotlin),
            ("kotlin", Language::JavaKotlin),
            ("c", Language::CCpp),
            ("cpp", Language::CCpp),
            ("c#", Language::CSharp),
            ("Python", Language::Python),
        ];
        for (alias, language) in cases {
            assert_eq!(Language::parse(alias), Some(language), "{alias}");
        }
    }

    #[test]
    fn canonical_names_round_trip() {
        for language in Language::ALL {
            assert_eq!(Language::parse(language.name()), Some(language));
        }
    }

    #[test]
    fn sets_compare_after_aliasing() {
        let a = parse_set(&names(&["java", "typescript", "kotlin"])).unwrap();
        let b = parse_set(&names(&["javascript-typescript", "java-kotlin"])).unwrap();
        assert_eq!(a, b);
        assert_eq!(render(&a), "java-kotlin, javascript-typescript");
    }

    #[test]
    fn unknown_language_is_named() {
        assert_eq!(
            parse_set(&names(&["python", "cobol"])),
            Err("cobol".to_string())
        );
    }
}
