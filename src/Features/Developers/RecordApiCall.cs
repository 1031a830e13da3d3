using FluentValidation;
using Freeside.Features.Common.Errors;
using Freeside.Features.Common.Mediation;
using Freeside.Features.Common.Persistence;
using MediatR;

namespace Freeside.Features.Developers;

/// <summary>Stores one settled API call for the developer's usage report.</summary>
public static class RecordApiCall
{
    public sealed record Command(ApiCall Call) : ICommand<Guid>;

    public sealed class Validator : AbstractValidator<Command>
    {
        public Validator()
        {
            RuleFor(c => c.Call.AmountMicro).GreaterThanOrEqualTo(0);
            RuleFor(c => c.Call.AmountMicro).Equal(0).When(c => c.Call.BillingMode == "sandbox").WithMessage("A sandbox call is never charged.");
            RuleFor(c => c.Call.Model).NotEmpty().MaximumLength(200);
        }
    }

    internal sealed class Handler(FreesideDb db) : IRequestHandler<Command, Result<Guid>>
    {
        public Task<Result<Guid>> Handle(Command request, CancellationToken cancellationToken)
        {
            db.Add(request.Call);
            return Task.FromResult<Result<Guid>>(request.Call.Id);
        }
    }
}
