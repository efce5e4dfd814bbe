import { useEffect, useState } from 'react';

/** Client-side navigation without a router library: pathname + query, history API. */
export function navigate(to: string, options: { replace?: boolean } = {}): void {
  if (to === window.location.pathname + window.location.search) return;
  if (options.replace) window.history.replaceState(null, '', to);
  else window.history.pushState(null, '', to);
  window.dispatchEvent(new Event('codevector:navigate'));
}

const read = () => ({ path: window.location.pathname, search: window.location.search });

export function useLocation(): { path: string; search: string } {
  const [location, setLocation] = useState(read);
  useEffect(() => {
    const update = () => setLocation(read());
    window.addEventListener('popstate', update);
    window.addEventListener('codevector:navigate', update);
    return () => {
      window.removeEventListener('popstate', update);
      window.removeEventListener('codevector:navigate', update);
    };
  }, []);
  return location;
}

export function Link(props: { to: string; children: React.ReactNode; className?: string; current?: boolean }) {
  return (
    <a
      href={props.to}
      className={props.className}
      aria-current={props.current ? 'page' : undefined}
      onClick={(event) => {
        if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
        event.preventDefault();
        navigate(props.to);
      }}
    >
      {props.children}
    </a>
  );
}
