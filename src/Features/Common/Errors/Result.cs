namespace Freeside.Features.Common.Errors;

/// <summary>The outcome of a request: a value, or an expected failure as an <see cref="Error"/>.</summary>
public readonly record struct Result<T> : IResultOutcome
{
    private readonly T? _value;

    private Result(T? value, Error? error)
    {
        _value = value;
        Error = error;
    }

    public Error? Error { get; }

    public bool IsSuccess => Error is null;

    public T Value => Error is null
        ? _value!
        : throw new InvalidOperationException($"Result holds the error '{Error.Type}', not a value.");

    public static Result<T> Success(T value) => new(value, null);

    public static Result<T> Failure(Error error) => new(default, error);

    public static implicit operator Result<T>(T value) => Success(value);

    public static implicit operator Result<T>(Error error) => Failure(error);

    public TOut Match<TOut>(Func<T, TOut> onSuccess, Func<Error, TOut> onFailure) =>
        Error is null ? onSuccess(_value!) : onFailure(Error);
}

/// <summary>Lets the pipeline see a failure without knowing the result's value type.</summary>
public interface IResultOutcome
{
    Error? Error { get; }
}

/// <summary>Builds a failed <typeparamref name="TResponse"/> where the response type is a <see cref="Result{T}"/>.</summary>
public static class Failure<TResponse>
{
    private static readonly Func<Error, TResponse>? Factory = CreateFactory();

    public static bool CanRepresent => Factory is not null;

    public static TResponse From(Error error) =>
        Factory is null
            ? throw new InvalidOperationException($"{typeof(TResponse)} cannot carry an error; return Result<T> from the handler.")
            : Factory(error);

    private static Func<Error, TResponse>? CreateFactory()
    {
        var type = typeof(TResponse);
        if (!type.IsGenericType || type.GetGenericTypeDefinition() != typeof(Result<>))
        {
            return null;
        }

        var method = type.GetMethod(nameof(Result<int>.Failure))!;
        return method.CreateDelegate<Func<Error, TResponse>>();
    }
}
