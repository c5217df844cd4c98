//! What a changed file is to CodeQL: its configuration or queries, a workflow, a build input or a
//! source of an analysed language, documentation, or unknown. Tables match case-insensitively, since
//! the repository may be checked out on a case-insensitive file system (and `README.MD` is still
//! documentation).

use std::collections::BTreeSet;
use std::fmt;
use std::sync::OnceLock;

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::languages::Language;

/// The role of one path, judged against the analysed languages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A query, query pack or CodeQL configuration file.
    CodeqlConfig,
    /// A workflow or action, which decides how and whether CodeQL runs.
    Workflow,
    /// A build or dependency file of an analysed language.
    Build(Language),
    /// A source file an analysed language's extractor reads.
    Source(Language),
    /// Documentation or an asset no extractor reads.
    NonCode,
    /// Anything else, including sources of languages that are not analysed.
    Unknown,
}

/// Displays as the end of a sentence starting with the path and "is".
impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Role::CodeqlConfig => f.write_str("a CodeQL configuration or query file"),
            Role::Workflow => {
                f.write_str("a workflow or action file and may change how CodeQL runs")
            }
            Role::Build(language) => write!(f, "a {language} build or dependency file"),
            Role::Source(language) => write!(f, "a {language} source file"),
            Role::NonCode => f.write_str("documentation or an asset"),
            Role::Unknown => f.write_str("not a known documentation or asset file"),
        }
    }
}

const CODEQL: &[&str] = &[
    "**/*.ql",
    "**/*.qll",
    "**/*.qls",
    "**/*.qlref",
    "**/qlpack.yml",
    "**/codeql-pack.yml",
    "**/codeql-pack.lock.yml",
    ".github/codeql/**",
    // Config files are found by whatever name the workflow passes, so any CodeQL-ish YAML counts.
    "**/*codeql*.yml",
    "**/*codeql*.yaml",
];

// Local composite actions and their scripts can be steps of the CodeQL job.
const WORKFLOW: &[&str] = &[
    ".github/workflows/**",
    ".github/actions/**",
    "**/action.yml",
    "**/action.yaml",
];

// Any compiled language's build may run containers or scripts.
const COMPILED_BUILD: &[&str] = &[
    "**/dockerfile",
    "**/dockerfile.*",
    "**/*.dockerfile",
    "**/containerfile",
    "**/*.sh",
    "**/*.bash",
    "**/*.ps1",
    "**/*.bat",
    "**/*.cmd",
];

// `.gitattributes` is left out on purpose: eol, filter and encoding attributes change what a
// checkout writes to disk, hence what the extractor sees.
const NON_CODE: &[&str] = &[
    "**/*.md",
    "**/*.markdown",
    "**/*.rst",
    "**/*.txt",
    "**/*.adoc",
    "**/*.asciidoc",
    "**/*.png",
    "**/*.jpg",
    "**/*.jpeg",
    "**/*.gif",
    "**/*.svg",
    "**/*.ico",
    "**/*.webp",
    "**/license",
    "**/license.*",
    "**/license-*",
    "**/licence",
    "**/licence.*",
    "**/copying",
    "**/copying.*",
    "**/changelog",
    "**/changelog.*",
    "**/authors",
    "**/authors.*",
    "**/codeowners",
    "**/.gitignore",
    "**/.editorconfig",
    "docs/**",
    "doc/**",
];

fn build_patterns(language: Language) -> &'static [&'static str] {
    match language {
        Language::Actions => &[],
        Language::CCpp => &[
            "**/makefile",
            "**/gnumakefile",
            "**/makefile.am",
            "**/makefile.in",
            "**/*.mk",
            "**/cmakelists.txt",
            "**/*.cmake",
            "**/cmakepresets.json",
            "**/configure",
            "**/configure.ac",
            "**/configure.in",
            "**/meson.build",
            "**/meson_options.txt",
            "**/meson.options",
            "**/build",
            "**/workspace",
            "**/*.bazel",
            "**/*.bzl",
            "**/.bazelrc",
            "**/.bazelversion",
            "**/build.ninja",
            "**/sconstruct",
            "**/sconscript",
            "**/conanfile.txt",
            "**/conanfile.py",
            "**/vcpkg.json",
            "**/vcpkg-configuration.json",
            "**/*.vcxproj",
            "**/*.sln",
        ],
        Language::CSharp => &[
            "**/*.csproj",
            "**/*.vbproj",
            "**/*.fsproj",
            "**/*.sln",
            "**/*.slnx",
            "**/*.props",
            "**/*.targets",
            "**/packages.config",
            "**/packages.lock.json",
            "**/nuget.config",
            "**/global.json",
            "**/dotnet-tools.json",
            "**/paket.dependencies",
            "**/paket.lock",
        ],
        Language::Go => &[
            "**/go.mod",
            "**/go.sum",
            "**/go.work",
            "**/go.work.sum",
            "**/vendor/modules.txt",
        ],
        Language::JavaKotlin => &[
            "**/pom.xml",
            "**/*.gradle",
            "**/*.gradle.kts",
            "**/gradle.properties",
            "**/gradle/**",
            "**/gradlew",
            "**/gradlew.bat",
            "**/.mvn/**",
            "**/mvnw",
            "**/mvnw.cmd",
            "**/build.xml",
            "**/ivy.xml",
            "**/lombok.config",
        ],
        Language::JavascriptTypescript => &[
            "**/package.json",
            "**/package-lock.json",
            "**/npm-shrinkwrap.json",
            "**/yarn.lock",
            "**/pnpm-lock.yaml",
            "**/pnpm-workspace.yaml",
            "**/bun.lock",
            "**/bun.lockb",
            "**/.npmrc",
            "**/.yarnrc",
            "**/.yarnrc.yml",
            "**/tsconfig*.json",
            "**/jsconfig*.json",
            "**/.babelrc",
            "**/.babelrc.*",
            "**/babel.config.*",
            "**/webpack.config.*",
            "**/rollup.config.*",
            "**/vite.config.*",
            "**/deno.json",
            "**/deno.jsonc",
        ],
        Language::Python => &[
            "**/requirements*.txt",
            "**/requirements/*.txt",
            "**/constraints*.txt",
            "**/setup.py",
            "**/setup.cfg",
            "**/pyproject.toml",
            "**/pipfile",
            "**/pipfile.lock",
            "**/poetry.lock",
            "**/uv.lock",
        ],
        Language::Ruby => &[
            "**/gemfile",
            "**/gemfile.lock",
            "**/*.gemspec",
            "**/rakefile",
        ],
        Language::Rust => &[
            "**/cargo.toml",
            "**/cargo.lock",
            "**/build.rs",
            "**/rust-toolchain",
            "**/rust-toolchain.toml",
            "**/.cargo/config",
            "**/.cargo/config.toml",
        ],
        Language::Swift => &[
            "**/package.swift",
            "**/package.resolved",
            "**/*.xcodeproj/**",
            "**/*.xcworkspace/**",
            "**/podfile",
            "**/podfile.lock",
            "**/cartfile",
            "**/cartfile.resolved",
        ],
    }
}

/// Which list a built-in pattern came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Table {
    Codeql,
    Workflow,
    CompiledBuild,
    NonCode,
    Build(Language),
}

/// Every built-in pattern in one set, so a path is matched once rather than once per list: under
/// the host's fuel budget, building and querying many small sets costs far more.
struct Tables {
    set: GlobSet,
    /// Indexed like the patterns in `set`.
    table_of: Vec<Table>,
}

fn tables() -> &'static Tables {
    static TABLES: OnceLock<Tables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let mut lists = vec![
            (Table::Codeql, CODEQL),
            (Table::Workflow, WORKFLOW),
            (Table::CompiledBuild, COMPILED_BUILD),
            (Table::NonCode, NON_CODE),
        ];
        lists.extend(Language::ALL.map(|l| (Table::Build(l), build_patterns(l))));
        let mut set = GlobSetBuilder::new();
        let mut table_of = Vec::new();
        for (table, patterns) in lists {
            for pattern in patterns {
                let glob = GlobBuilder::new(pattern)
                    .literal_separator(true)
                    .build()
                    .expect("built-in file patterns are valid globs");
                set.add(glob);
                table_of.push(table);
            }
        }
        let set = set.build().expect("built-in file patterns are valid globs");
        Tables { set, table_of }
    })
}

/// Rejects paths that are not plain repository-relative paths, since filters and tables would
/// misjudge them.
pub fn check_path(path: &str) -> Result<(), String> {
    let odd_part = path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..");
    if odd_part || path.contains('\\') || path.contains('\0') {
        return Err(format!("{path:?} is not a normalised repository path"));
    }
    Ok(())
}

fn extension(path: &str) -> Option<String> {
    let name = path.rsplit('/').next().unwrap_or(path);
    let dot = name.rfind('.').filter(|&i| i > 0)?;
    Some(name[dot + 1..].to_ascii_lowercase())
}

/// Classifies a path; earlier roles win, so a build file is never mistaken for documentation.
pub fn classify(path: &str, languages: &BTreeSet<Language>) -> Role {
    let tables = tables();
    // Lower-casing here instead of case-insensitive globs keeps globset's fast literal and
    // extension strategies; case-insensitive globs all become one costly regex.
    let hits: Vec<Table> = tables
        .set
        .matches(path.to_lowercase())
        .into_iter()
        .map(|i| tables.table_of[i])
        .collect();
    let hit = |table| hits.contains(&table);
    if hit(Table::Codeql) {
        return Role::CodeqlConfig;
    }
    if hit(Table::Workflow) {
        return Role::Workflow;
    }
    for &language in languages {
        if hit(Table::Build(language)) || (language.is_compiled() && hit(Table::CompiledBuild)) {
            return Role::Build(language);
        }
    }
    if let Some(ext) = extension(path) {
        let source_of = languages
            .iter()
            .find(|l| l.source_extensions().contains(&ext.as_str()));
        if let Some(&language) = source_of {
            return Role::Source(language);
        }
    }
    // A build file of a language that is not analysed is still no documentation (`CMakeLists.txt`).
    let any_build = hits.iter().any(|t| matches!(t, Table::Build(_)));
    if hit(Table::NonCode) && !any_build {
        return Role::NonCode;
    }
    Role::Unknown
}

#[cfg(test)]
mod tests {
    use super::*;

    fn role(path: &str, languages: &[Language]) -> Role {
        classify(path, &languages.iter().copied().collect())
    }

    #[test]
    fn built_in_tables_compile() {
        let tables = tables();
        assert_eq!(tables.set.len(), tables.table_of.len());
        // Paths are lower-cased before matching, so an upper-case pattern could never match.
        let lists = [CODEQL, WORKFLOW, COMPILED_BUILD, NON_CODE];
        let builds = Language::ALL.map(build_patterns);
        for pattern in lists.iter().chain(&builds).flat_map(|list| list.iter()) {
            assert_eq!(*pattern, pattern.to_lowercase());
        }
    }

    #[test]
    fn codeql_files_win_over_everything() {
        let py = [Language::Python];
        for path in [
            "queries/MyCheck.ql",
            "lib/Shared.qll",
            "suites/custom.qls",
            "qlpack.yml",
            "packs/x/codeql-pack.lock.yml",
            ".github/codeql/extensions/model.yml",
            ".github/codeql/README.md",
            "config/codeql-config.yml",
            "docs/my-codeql.yaml",
        ] {
            assert_eq!(role(path, &py), Role::CodeqlConfig, "{path}");
        }
    }

    #[test]
    fn workflows_and_actions_are_workflow_files() {
        for path in [
            ".github/workflows/ci.yml",
            ".github/workflows/README.md",
            ".github/actions/setup/install.sh",
            "tools/deploy/action.yaml",
        ] {
            assert_eq!(role(path, &[Language::Python]), Role::Workflow, "{path}");
        }
    }

    #[test]
    fn build_files_belong_to_their_language_only() {
        let cases = [
            ("pom.xml", Language::JavaKotlin),
            ("app/build.gradle.kts", Language::JavaKotlin),
            (
                "gradle/wrapper/gradle-wrapper.properties",
                Language::JavaKotlin,
            ),
            ("web/package-lock.json", Language::JavascriptTypescript),
            ("tsconfig.build.json", Language::JavascriptTypescript),
            ("requirements-dev.txt", Language::Python),
            ("go.sum", Language::Go),
            ("vendor/modules.txt", Language::Go),
            ("src/CMakeLists.txt", Language::CCpp),
            ("BUILD.bazel", Language::CCpp),
            ("src/App/App.csproj", Language::CSharp),
            ("Gemfile.lock", Language::Ruby),
            ("App.xcodeproj/project.pbxproj", Language::Swift),
            ("Cargo.lock", Language::Rust),
        ];
        for (path, language) in cases {
            assert_eq!(role(path, &[language]), Role::Build(language), "{path}");
        }
        assert_eq!(role("pom.xml", &[Language::Python]), Role::Unknown);
    }

    #[test]
    fn scripts_and_dockerfiles_are_build_files_of_compiled_languages() {
        assert_eq!(
            role("scripts/build.sh", &[Language::Go]),
            Role::Build(Language::Go)
        );
        assert_eq!(
            role("Dockerfile", &[Language::CSharp]),
            Role::Build(Language::CSharp)
        );
        assert_eq!(role("scripts/build.sh", &[Language::Python]), Role::Unknown);
    }

    #[test]
    fn sources_are_found_by_extension_case_insensitively() {
        assert_eq!(
            role("src/App.PY", &[Language::Python]),
            Role::Source(Language::Python)
        );
        assert_eq!(
            role("web/data.json", &[Language::JavascriptTypescript]),
            Role::Source(Language::JavascriptTypescript)
        );
        assert_eq!(
            role("lib/x.h", &[Language::CCpp]),
            Role::Source(Language::CCpp)
        );
        assert_eq!(role("src/x.go", &[Language::Python]), Role::Unknown);
    }

    #[test]
    fn documentation_and_assets_are_non_code() {
        for path in [
            "README.md",
            "docs/guide/setup.yml",
            "LICENSE",
            "LICENSE-APACHE",
            "CHANGELOG.rst",
            "assets/logo.svg",
            ".github/CODEOWNERS",
            "notes.txt",
        ] {
            assert_eq!(role(path, &[Language::Python]), Role::NonCode, "{path}");
        }
    }

    #[test]
    fn non_code_never_hides_sources_or_build_files() {
        assert_eq!(
            role("docs/conf.py", &[Language::Python]),
            Role::Source(Language::Python)
        );
        assert_eq!(role("requirements.txt", &[Language::Go]), Role::Unknown);
        assert_eq!(role("CMakeLists.txt", &[Language::Python]), Role::Unknown);
        assert_eq!(role(".gitattributes", &[Language::Python]), Role::Unknown);
        assert_eq!(role("docs", &[Language::Python]), Role::Unknown);
    }

    #[test]
    fn odd_paths_are_rejected() {
        for path in ["", "/etc/passwd", "a//b", "./a", "a/../b", "a\\b"] {
            assert!(check_path(path).is_err(), "{path:?}");
        }
        assert!(check_path(".github/workflows/ci.yml").is_ok());
    }
}
