using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Freeside.Features.Common.Errors;

public static class ResultHttpExtensions
{
    /// <summary>Success becomes whatever <paramref name="onSuccess"/> builds; failure becomes a problem.</summary>
    public static Results<TSuccess, ProblemHttpResult> ToHttp<T, TSuccess>(this Result<T> result, Func<T, TSuccess> onSuccess)
        where TSuccess : IResult =>
        result.IsSuccess ? onSuccess(result.Value) : result.Error!.ToProblem();

    public static Results<Ok<T>, ProblemHttpResult> ToOk<T>(this Result<T> result) =>
        result.IsSuccess ? TypedResults.Ok(result.Value) : result.Error!.ToProblem();
}
