//! Telling GraphQL queries from mutations, conservatively.
//!
//! Only the top level of the document is read: strings and comments are skipped, brackets are
//! balanced, and the keyword of every definition is collected. Anything that does not lex cleanly as
//! queries (and fragments) counts as "not clearly a query", which the caller bypasses.

/// What a GraphQL document does, as far as caching cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Only queries (plus fragments): reads, safe to cache.
    Query,
    /// At least one mutation: a write.
    Mutation,
    /// At least one subscription: a stream, never cacheable.
    Subscription,
    /// Could not be read with confidence; the text says why.
    Unclear(String),
}

/// Where the scanner stands at the top level of the document.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// Between definitions: the next token must start one.
    BetweenDefinitions,
    /// Inside a definition's header (name, variables, directives) or body.
    InDefinition,
}

/// Classifies `document` by the keywords of its top-level definitions.
pub fn classify(document: &str) -> Operation {
    match definition_keywords(document) {
        Err(why) => Operation::Unclear(why),
        Ok(keywords) => {
            if keywords.iter().any(|k| k == "mutation") {
                Operation::Mutation
            } else if keywords.iter().any(|k| k == "subscription") {
                Operation::Subscription
            } else if keywords.iter().any(|k| k == "query") {
                Operation::Query
            } else {
                Operation::Unclear("the document holds no operation".to_owned())
            }
        }
    }
}

/// The keyword of every top-level definition (`query` for the `{ ... }` shorthand).
fn definition_keywords(document: &str) -> Result<Vec<String>, String> {
    let mut keywords = Vec::new();
    let mut open: Vec<char> = Vec::new();
    let mut state = State::BetweenDefinitions;
    let mut chars = document.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        match c {
            ' ' | '\t' | '\n' | '\r' | ',' | '\u{feff}' => {}
            '#' => while chars.next_if(|&(_, c)| c != '\n' && c != '\r').is_some() {},
            '"' => {
                if state == State::BetweenDefinitions {
                    return Err("a string stands where a definition should start".to_owned());
                }
                skip_string(document, at, &mut chars)?;
            }
            '{' | '(' | '[' => {
                if open.is_empty() && state == State::BetweenDefinitions {
                    if c != '{' {
                        return Err(format!("unexpected {c:?} at the top level"));
                    }
                    keywords.push("query".to_owned());
                    state = State::InDefinition;
                }
                open.push(c);
            }
            '}' | ')' | ']' => {
                let expected = match open.pop() {
                    Some('{') => '}',
                    Some('(') => ')',
                    Some(_) => ']',
                    None => return Err(format!("unbalanced {c:?}")),
                };
                if c != expected {
                    return Err(format!("{c:?} closes a bracket it did not open"));
                }
                if open.is_empty() && c == '}' {
                    state = State::BetweenDefinitions;
                }
            }
            c if c == '_' || c.is_ascii_alphabetic() => {
                let mut end = at + c.len_utf8();
                while let Some((i, c)) =
                    chars.next_if(|&(_, c)| c == '_' || c.is_ascii_alphanumeric())
                {
                    end = i + c.len_utf8();
                }
                if open.is_empty() && state == State::BetweenDefinitions {
                    let keyword = &document[at..end];
                    match keyword {
                        "query" | "mutation" | "subscription" | "fragment" => {
                            keywords.push(keyword.to_owned());
                            state = State::InDefinition;
                        }
                        _ => return Err(format!("unknown definition keyword {keyword:?}")),
                    }
                }
            }
            _ if state == State::BetweenDefinitions && open.is_empty() => {
                return Err(format!("unexpected {c:?} where a definition should start"));
            }
            _ => {}
        }
    }
    if !open.is_empty() {
        return Err("unbalanced brackets".to_owned());
    }
    if state == State::InDefinition {
        return Err("the last definition has no selection set".to_owned());
    }
    Ok(keywords)
}

/// Skips a string whose opening quote sits at `start`: `"..."` with escapes, or a `"""` block.
fn skip_string(
    document: &str,
    start: usize,
    chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>,
) -> Result<(), String> {
    if document[start..].starts_with("\"\"\"") {
        chars.next();
        chars.next();
        while let Some((at, c)) = chars.next() {
            if c == '\\' && document[at + 1..].starts_with("\"\"\"") {
                chars.nth(2);
            } else if c == '"' && document[at..].starts_with("\"\"\"") {
                chars.nth(1);
                return Ok(());
            }
        }
        return Err("unterminated block string".to_owned());
    }
    while let Some((_, c)) = chars.next() {
        match c {
            '\\' => {
                chars.next();
            }
            '"' => return Ok(()),
            '\n' | '\r' => return Err("line break inside a string".to_owned()),
            _ => {}
        }
    }
    Err("unterminated string".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_unclear(document: &str) -> bool {
        matches!(classify(document), Operation::Unclear(_))
    }

    #[test]
    fn named_and_shorthand_queries_are_queries() {
        assert_eq!(classify("query { viewer { login } }"), Operation::Query);
        assert_eq!(classify("{ viewer { login } }"), Operation::Query);
        assert_eq!(
            classify(
                "query Repo($o: String!, $n: String = \"x\") { repository(owner: $o, name: $n) { id } }"
            ),
            Operation::Query
        );
        assert_eq!(
            classify("\u{feff}  # leading comment\n query Q @cached { a }"),
            Operation::Query
        );
    }

    #[test]
    fn fragments_may_come_first() {
        let doc = "fragment F on Repository { name } query Q { viewer { repositories(first: 1) { nodes { ...F } } } }";
        assert_eq!(classify(doc), Operation::Query);
    }

    #[test]
    fn mutations_and_subscriptions_are_found_anywhere_at_the_top_level() {
        assert_eq!(
            classify("mutation { addStar(input: {starrableId: \"x\"}) { clientMutationId } }"),
            Operation::Mutation
        );
        assert_eq!(
            classify("query A { a } mutation B { b }"),
            Operation::Mutation
        );
        assert_eq!(classify("subscription S { s }"), Operation::Subscription);
    }

    #[test]
    fn keywords_inside_strings_comments_and_selections_do_not_count() {
        assert_eq!(
            classify("query { search(query: \"mutation {\") { a } }"),
            Operation::Query
        );
        assert_eq!(classify("# mutation { x }\nquery { a }"), Operation::Query);
        assert_eq!(
            classify("query { mutation subscription }"),
            Operation::Query
        );
        assert_eq!(
            classify("query { a(b: \"\"\"mutation \\\"\"\" }\"\"\") }"),
            Operation::Query
        );
    }

    #[test]
    fn variable_defaults_with_objects_stay_in_the_header() {
        assert_eq!(
            classify("query Q($f: Filter = {a: [1, 2]}) { items(filter: $f) { id } }"),
            Operation::Query
        );
        assert_eq!(
            classify("mutation M($f: Filter = {a: 1}) { x }"),
            Operation::Mutation
        );
    }

    #[test]
    fn anything_not_clearly_a_query_is_unclear() {
        for doc in [
            "",
            "   ",
            "# only a comment",
            "fragment F on X { a }",
            "Query { a }",
            "queryX { a }",
            "query { a",
            "query { a }}",
            "query { a ) }",
            "query Q",
            "type Query { a: Int }",
            "\"description\" query { a }",
            "query { a(b: \"unterminated) }",
            "query { a(b: \"\"\"open) }",
            "query { a(b: \"line\nbreak\") }",
            "1 { a }",
            "(a) { b }",
        ] {
            assert!(
                is_unclear(doc),
                "{doc:?} should be unclear, got {:?}",
                classify(doc)
            );
        }
    }
}
