using System.Reflection;
using FluentValidation.Results;
using Freeside.Features.Common.Persistence;

namespace Freeside.Features.Common.Mediation;

/// <summary>Marks a request's string property whose value may span lines: tab, CR and LF are allowed there.</summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class MultiLineAttribute : Attribute;

/// <summary>
/// The text rule every request obeys, whatever it came from (JSON body, query string, route value,
/// header, gateway event): no C0 control characters (a NUL reaching PostgreSQL is a 500), none of
/// tab/CR/LF either unless the property is <see cref="MultiLineAttribute"/>, and no lone surrogates.
/// Checked once per request by the validation behavior over every string and string collection.
/// </summary>
public static class TextRules<TRequest>
{
    private static readonly (string Field, Func<TRequest, object?> Read, bool MultiLine)[] Texts =
        [.. typeof(TRequest).GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.CanRead && p.GetIndexParameters().Length == 0
                && (p.PropertyType == typeof(string) || typeof(IEnumerable<string>).IsAssignableFrom(p.PropertyType)))
            .Select(p => (SnakeCaseNames.ToSnakeCase(p.Name), (Func<TRequest, object?>)(r => p.GetValue(r)), p.GetCustomAttribute<MultiLineAttribute>() is not null))];

    public static void Check(TRequest request, List<ValidationFailure> failures)
    {
        foreach (var (field, read, multiLine) in Texts)
        {
            switch (read(request))
            {
                case string text:
                    CheckOne(field, text, multiLine, failures);
                    break;
                case IEnumerable<string> texts:
                    foreach (var text in texts)
                    {
                        if (CheckOne(field, text, multiLine, failures))
                        {
                            break;
                        }
                    }

                    break;
            }
        }
    }

    private static bool CheckOne(string field, string? text, bool multiLine, List<ValidationFailure> failures)
    {
        if (TextRule.Violation(text, multiLine) is not { } message)
        {
            return false;
        }

        failures.Add(new ValidationFailure(field, $"{field} {message}"));
        return true;
    }
}

public static class TextRule
{
    /// <summary>What is wrong with <paramref name="text"/>, or null when it is acceptable.</summary>
    public static string? Violation(string? text, bool multiLine)
    {
        if (text is null)
        {
            return null;
        }

        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c < ' ' && !(multiLine && c is '\t' or '\r' or '\n'))
            {
                return multiLine
                    ? $"must not contain control characters other than tab, CR and LF (found U+{(int)c:X4} at {i})."
                    : $"must be a single line without control characters (found U+{(int)c:X4} at {i}).";
            }

            if (char.IsSurrogate(c))
            {
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }

                return $"must be valid Unicode text (lone surrogate at {i}).";
            }
        }

        return null;
    }
}
