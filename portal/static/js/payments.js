// Stripe.js: save a card (SetupIntent confirmed in the browser) and authenticate a payment on-session.
// Loaded only on those pages, after Stripe.js itself. No inline scripts (CSP).
(function () {
  "use strict";
  if (typeof window.Stripe !== "function") return;

  const setup = document.getElementById("card-setup");
  if (setup) {
    const stripe = window.Stripe(setup.dataset.publishableKey);
    const card = stripe.elements().create("card");
    card.mount("#card-element");
    const errors = document.getElementById("card-errors");
    const button = document.getElementById("card-save");
    setup.addEventListener("submit", async (event) => {
      event.preventDefault();
      button.disabled = true;
      errors.textContent = "";
      let result;
      try {
        result = await stripe.confirmCardSetup(setup.dataset.clientSecret, {payment_method: {card: card}});
      } catch (err) {
        result = {error: {message: "The card could not be checked. Please try again."}};
      }
      if (result.error) {
        errors.textContent = (result.error.message || "The card was not saved.") + " Check the details and try again.";
        button.disabled = false;
        return;
      }
      document.getElementById("setup-intent-id").value = result.setupIntent.id;
      setup.submit();
    });
  }

  // A payment the bank wants the buyer to confirm (the review's place form, or a due shipment payment).
  // Whatever the outcome, the form is sent: the server reads the payment's state from Stripe.
  const confirm = document.querySelector("form[data-authenticate]");
  if (confirm) {
    const stripe = window.Stripe(confirm.dataset.publishableKey);
    stripe.confirmCardPayment(confirm.dataset.authenticate).finally(() => confirm.submit());
  }
})();
