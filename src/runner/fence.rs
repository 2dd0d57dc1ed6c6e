//! Code wrapped in a Markdown fence, as models often send it, runs as the
//! code inside the fence.

/// The code inside a ```` ``` ```` fence when `code` is exactly one fenced
/// block (an optional language tag after the opening backticks); otherwise
/// `code` unchanged. The opening line becomes an empty line, so line numbers
/// in tracebacks match the lines the sender sees.
pub fn unfence(code: &str) -> Option<String> {
    let trimmed = code.trim();
    let (first, rest) = trimmed.split_once('\n')?;
    let tag = first.trim_end().strip_prefix("```")?;
    if tag.contains('`') || tag.contains(char::is_whitespace) {
        return None;
    }
    let body = rest.trim_end().strip_suffix("```")?;
    // The closing fence must stand on its own line, and be the only one.
    if !(body.is_empty() || body.ends_with('\n'))
        || body.contains("\n```")
        || body.starts_with("```")
    {
        return None;
    }
    let leading = &code[..code.len() - code.trim_start().len()];
    let blank_lines = leading.matches('\n').count() + 1;
    Some(format!("{}{body}", "\n".repeat(blank_lines)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fenced_block_runs_its_inside_on_the_same_lines() {
        let code = "```python\nx = 1\nprint(x)\n```\n";
        assert_eq!(unfence(code).as_deref(), Some("\nx = 1\nprint(x)\n"));
    }

    #[test]
    fn a_bare_fence_and_surrounding_blank_lines_are_accepted() {
        assert_eq!(unfence("\n```\npass\n```").as_deref(), Some("\n\npass\n"));
        assert_eq!(unfence("```py\n```").as_deref(), Some("\n"));
    }

    #[test]
    fn plain_code_and_partial_fences_are_left_alone() {
        assert_eq!(unfence("print(1)"), None);
        assert_eq!(unfence("```python\nprint(1)"), None);
        assert_eq!(unfence("x = '```'\n```"), None);
        assert_eq!(unfence("```a\n1\n```\ntext\n```b\n2\n```"), None);
        assert_eq!(unfence("``` python extra\n1\n```"), None);
    }
}
